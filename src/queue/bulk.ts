/**
 * Bulk actions on a job search: cancel, retry or discard every job a filter matches (or a list
 * of ids), in one transaction, answering the exact number acted on. The same predicates as the
 * list and its count (job_filter.ts), so "Cancel 1,204 jobs" cancels those 1,204: a count's
 * `upTo` keeps jobs enqueued after the confirmation out.
 */
import { atomically, type Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { checkJobFilter, type JobFilter, jobFilterSql } from "./job_filter.ts";
import { isJobId, type JobState, UNFINISHED_STATES } from "./job.ts";
import { RETRYABLE_STATES } from "./replay.ts";

export const BULK_ACTIONS = ["cancel", "retry", "discard"] as const;
export type BulkAction = typeof BULK_ACTIONS[number];

/** Most jobs one bulk call acts on: the whole set or nothing, in bounded time and answer size. */
export const MAX_BULK_JOBS = 10_000;

/** Which states each action applies to; other matching jobs are left alone and not counted. */
export const BULK_STATES: Record<BulkAction, readonly JobState[]> = {
  cancel: UNFINISHED_STATES,
  retry: RETRYABLE_STATES,
  // Only dead jobs: a cancelled or succeeded job is history the retention rules keep.
  discard: ["dead"],
};

export interface BulkSelection {
  filter?: JobFilter;
  ids?: string[] | null;
}

export interface BulkResult {
  action: BulkAction;
  count: number;
  jobIds: string[];
  /** For retry: the new job of each retried one. */
  retried: { jobId: string; newJobId: string }[];
}

export async function bulkAct(
  sql: Db,
  action: BulkAction,
  sel: BulkSelection,
  { createdBy = null }: { createdBy?: string | null } = {},
): Promise<BulkResult> {
  const filter = sel.filter ?? {};
  const ids = sel.ids ?? null;
  if (ids !== null) {
    const bad = ids.filter((id) => !isJobId(id));
    if (bad.length) {
      throw new SluiceError("VALIDATION_FAILED", `'${bad[0]}' is not a job id`, { ids: bad });
    }
  }
  await checkJobFilter(sql, filter);
  const states = BULK_STATES[action] as string[];
  return await atomically(sql, async (tx) => {
    // Lock what the action will touch first (no SKIP LOCKED: a row a worker holds for a moment
    // is waited for, so the count is every match, not the unlocked ones).
    const picked = await tx<{ id: string }[]>`
      SELECT id FROM sluice.jobs
      WHERE state = ANY(${states}) ${jobFilterSql(tx, filter)}
        ${ids !== null ? tx`AND id = ANY(${ids}::bigint[])` : tx``}
      ORDER BY id
      LIMIT ${MAX_BULK_JOBS + 1}
      FOR UPDATE`;
    if (picked.length > MAX_BULK_JOBS) {
      throw new SluiceError(
        "BATCH_TOO_LARGE",
        `more than ${MAX_BULK_JOBS} jobs match: narrow the filter (a queue, a kind, a time range)`,
        { max: MAX_BULK_JOBS },
      );
    }
    const chosen = picked.map((r) => String(r.id));
    const result: BulkResult = { action, count: chosen.length, jobIds: chosen, retried: [] };
    if (chosen.length === 0) return result;
    if (action === "cancel") {
      // As cancelJob: a waiting job ends now; a running one is marked for its worker to abort.
      await tx`
        UPDATE sluice.jobs SET
          state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
          cancel_requested = (state = 'running'),
          finished_at = CASE WHEN state = 'running' THEN NULL ELSE now() END
        WHERE id = ANY(${chosen}::bigint[])`;
    } else if (action === "retry") {
      const rows = await tx<{ id: string; retry_of: string }[]>`
        INSERT INTO sluice.jobs (
          queue, kind, payload, state, priority, run_at, max_attempts, timeout_ms, tags,
          retry_of, created_by
        )
        SELECT queue, kind, payload, 'available', priority, now(), max_attempts, timeout_ms, tags,
          id, ${createdBy}
        FROM sluice.jobs WHERE id = ANY(${chosen}::bigint[])
        ORDER BY id
        RETURNING id, retry_of`;
      result.retried = rows.map((r) => ({ jobId: String(r.retry_of), newJobId: String(r.id) }));
    } else {
      await tx`DELETE FROM sluice.jobs WHERE id = ANY(${chosen}::bigint[])`;
    }
    return result;
  });
}
