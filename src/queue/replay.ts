import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { type Job, type JobRow, type JobState, toJob } from "./job.ts";
import { jobNotFound } from "./inspect.ts";

export interface ReplayOptions {
  /** Who asks: recorded as the new job's `createdBy`. */
  createdBy?: string | null;
  /** Only jobs created by this token name are visible (producer scope). */
  ownedBy?: string | null;
}

/** `retry` re-runs a job that ended badly: dead or cancelled. */
export const RETRYABLE_STATES: readonly JobState[] = ["dead", "cancelled"];
/** `replay` re-runs any finished job, including a succeeded one. */
export const REPLAYABLE_STATES: readonly JobState[] = ["dead", "cancelled", "succeeded"];

/**
 * Creates a new job with the same queue, kind, payload and options, linked by `retry_of`. The
 * original row is not touched (immutable history); its timeline shows the replay through the
 * link.
 */
export async function replayJob(
  sql: Db,
  id: string,
  { createdBy = null, ownedBy = null, states = REPLAYABLE_STATES }: ReplayOptions & {
    states?: readonly JobState[];
  } = {},
): Promise<Job> {
  const rows = await sql<JobRow[]>`
    INSERT INTO sluice.jobs (
      queue, kind, payload, state, priority, run_at, max_attempts, timeout_ms, tags,
      retry_of, created_by
    )
    SELECT queue, kind, payload, 'available', priority, now(), max_attempts, timeout_ms, tags,
      id, ${createdBy}
    FROM sluice.jobs
    WHERE id = ${id} AND state = ANY(${states as string[]})
      ${ownedBy != null ? sql`AND created_by = ${ownedBy}` : sql``}
    RETURNING *`;
  const row = rows[0];
  if (row) return toJob(row);
  const [existing] = await sql<{ state: string }[]>`
    SELECT state FROM sluice.jobs WHERE id = ${id}
      ${ownedBy != null ? sql`AND created_by = ${ownedBy}` : sql``}`;
  if (!existing) throw jobNotFound(id);
  throw new SluiceError(
    "NOT_RETRYABLE",
    `job ${id} is ${existing.state}; only ${states.join(", ")} jobs can be re-run`,
    { jobId: id, state: existing.state },
  );
}

export function retryJob(sql: Db, id: string, opts: ReplayOptions = {}): Promise<Job> {
  return replayJob(sql, id, { ...opts, states: RETRYABLE_STATES });
}
