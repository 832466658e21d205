import type { Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { isJobId } from "./inspect.ts";
import { type Job, type JobRow, toJob } from "./job.ts";

/** Filters over the dead-letter queue (`state = 'dead'`). */
export interface DeadFilter {
  queue?: string | null;
  reason?: string | null;
  kind?: string | null;
  /** finished_at bounds. */
  since?: Date | null;
  until?: Date | null;
}

function where(sql: Sql, f: DeadFilter) {
  return sql`state = 'dead'
    ${f.queue != null ? sql`AND queue = ${f.queue}` : sql``}
    ${f.reason != null ? sql`AND dead_reason = ${f.reason}` : sql``}
    ${f.kind != null ? sql`AND kind = ${f.kind}` : sql``}
    ${f.since != null ? sql`AND finished_at >= ${f.since}` : sql``}
    ${f.until != null ? sql`AND finished_at < ${f.until}` : sql``}`;
}

/** Dead jobs newest first (keyset on id) and their counts by reason under the same filter. */
export async function listDeadJobs(
  sql: Sql,
  f: DeadFilter & { before?: string | null; limit?: number },
): Promise<{ jobs: Job[]; nextCursor: string | null; counts: Record<string, number> }> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
  if (f.before != null && !isJobId(f.before)) {
    throw new SluiceError("VALIDATION_FAILED", `cursor '${f.before}' is not a job id`);
  }
  // Dead jobs are few (partial index jobs_dead_idx): grouping them is cheap.
  const [rows, groups] = await Promise.all([
    sql<JobRow[]>`
      SELECT * FROM sluice.jobs WHERE ${where(sql, f)}
        ${f.before != null ? sql`AND id < ${f.before}` : sql``}
      ORDER BY id DESC LIMIT ${limit + 1}`,
    sql<{ reason: string | null; n: number }[]>`
      SELECT dead_reason AS reason, count(*)::int AS n FROM sluice.jobs WHERE ${where(sql, f)}
      GROUP BY dead_reason ORDER BY dead_reason`,
  ]);
  const jobs = rows.slice(0, limit).map(toJob);
  return {
    jobs,
    nextCursor: rows.length > limit ? jobs.at(-1)!.id : null,
    counts: Object.fromEntries(groups.map((g) => [g.reason ?? "UNKNOWN", g.n])),
  };
}

export interface DeadReplay {
  /** Pairs of (dead job, new job), oldest dead job first. */
  replayed: { jobId: string; newJobId: string }[];
  /** True when the filter matched more than `limit`: call again for the rest. */
  more: boolean;
}

/**
 * Re-runs dead jobs as new linked jobs in one statement, at most `limit` per call. By filter it
 * skips dead jobs that were already replayed, so repeating the call works through the backlog
 * instead of replaying the same jobs again; by ids it replays exactly those (dead ones only).
 */
export async function replayDeadJobs(
  sql: Sql,
  sel: { ids: readonly string[] } | { filter: DeadFilter },
  { limit, createdBy = null }: { limit: number; createdBy?: string | null },
): Promise<DeadReplay> {
  let picked: { id: string }[];
  if ("ids" in sel) {
    const ids = sel.ids.filter(isJobId);
    if (sel.ids.length > limit) {
      throw new SluiceError(
        "BATCH_TOO_LARGE",
        `cannot replay ${sel.ids.length} jobs in one call; the maximum is ${limit}`,
        { size: sel.ids.length, max: limit },
      );
    }
    picked = await sql<{ id: string }[]>`
      SELECT id FROM sluice.jobs WHERE state = 'dead' AND id = ANY(${ids as string[]}::bigint[])
      ORDER BY id`;
  } else {
    picked = await sql<{ id: string }[]>`
      SELECT j.id FROM sluice.jobs j WHERE ${where(sql, sel.filter)}
        AND NOT EXISTS (SELECT 1 FROM sluice.jobs c WHERE c.retry_of = j.id)
      ORDER BY j.id LIMIT ${limit + 1}`;
  }
  const more = picked.length > limit;
  const ids = picked.slice(0, limit).map((r) => String(r.id));
  if (ids.length === 0) return { replayed: [], more: false };
  const rows = await sql<{ id: string; retry_of: string }[]>`
    INSERT INTO sluice.jobs (
      queue, kind, payload, state, priority, run_at, max_attempts, timeout_ms, tags,
      retry_of, created_by
    )
    SELECT queue, kind, payload, 'available', priority, now(), max_attempts, timeout_ms, tags,
      id, ${createdBy}
    FROM sluice.jobs WHERE state = 'dead' AND id = ANY(${ids}::bigint[])
    ORDER BY id
    RETURNING id, retry_of`;
  return {
    replayed: rows.map((r) => ({ jobId: String(r.retry_of), newJobId: String(r.id) }))
      .sort((a, b) => Number(BigInt(a.jobId) - BigInt(b.jobId))),
    more,
  };
}
