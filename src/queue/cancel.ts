import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { type Job, type JobRow, toJob } from "./job.ts";
import { jobNotFound } from "./inspect.ts";

/**
 * Cancels a job that has not finished. A waiting job ends `cancelled` now; a running one is
 * marked, and its worker aborts the handler at its next heartbeat and records `cancelled`.
 */
export async function cancelJob(
  sql: Db,
  id: string,
  { createdBy }: { createdBy?: string | null } = {},
): Promise<Job> {
  const rows = await sql<JobRow[]>`
    UPDATE sluice.jobs SET
      state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
      cancel_requested = (state = 'running'),
      finished_at = CASE WHEN state = 'running' THEN NULL ELSE now() END
    WHERE id = ${id} AND state IN ('blocked', 'scheduled', 'available', 'retrying', 'running')
      ${createdBy != null ? sql`AND created_by = ${createdBy}` : sql``}
    RETURNING *`;
  const row = rows[0];
  if (row) return toJob(row);
  const [existing] = await sql<{ state: string }[]>`
    SELECT state FROM sluice.jobs WHERE id = ${id}
      ${createdBy != null ? sql`AND created_by = ${createdBy}` : sql``}`;
  if (!existing) throw jobNotFound(id);
  throw new SluiceError(
    "NOT_CANCELLABLE",
    `job ${id} is ${existing.state} and can no longer be cancelled`,
    { jobId: id, state: existing.state },
  );
}
