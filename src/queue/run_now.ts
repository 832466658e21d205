import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { jobNotFound } from "./inspect.ts";
import { type Job, type JobRow, toJob } from "./job.ts";
import { notifyQueues } from "./outcome.ts";

/**
 * "Run now" for a job waiting on its time (scheduled, or retrying after a backoff): it becomes
 * available at once and its queue's workers are woken. Its attempt count and history stay; the
 * queue's pause, concurrency and rate limits still apply when it is leased.
 */
export async function runJobNow(
  sql: Db,
  id: string,
  { ownedBy = null }: { ownedBy?: string | null } = {},
): Promise<Job> {
  const owner = ownedBy != null ? sql`AND created_by = ${ownedBy}` : sql``;
  const [row] = await sql<JobRow[]>`
    UPDATE sluice.jobs SET state = 'available', run_at = now()
    WHERE id = ${id} AND state IN ('scheduled', 'retrying') ${owner}
    RETURNING *`;
  if (row) {
    await notifyQueues(sql, [row.queue]);
    return toJob(row);
  }
  const [existing] = await sql<{ state: string }[]>`
    SELECT state FROM sluice.jobs WHERE id = ${id} ${owner}`;
  if (!existing) throw jobNotFound(id);
  throw new SluiceError(
    "CONFLICT",
    `job ${id} is ${existing.state}; only scheduled or retrying jobs can be run now`,
    { jobId: id, state: existing.state },
  );
}
