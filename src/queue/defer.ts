import type { Db } from "../db/connect.ts";
import type { Fence } from "./job.ts";
import { fencedOn, notifyQueues, staleLease } from "./outcome.ts";

/**
 * Puts a leased job back without counting the attempt, to run after `delayMs`: the delivery
 * was not attempted (its target's circuit is open). Unlike a failure nothing is appended to
 * `errors`; the job waits as `scheduled` (never attempted) or `retrying`, and explain names the
 * reason while it waits (the caller logs `reason`). Fenced like every write after a lease.
 */
export async function deferJob(
  sql: Db,
  fence: Fence,
  delayMs: number,
  _reason: string,
): Promise<{ state: "available" | "scheduled" | "retrying"; runAt: Date }> {
  const delay = Math.max(0, Math.round(delayMs));
  const rows = await sql<
    { state: "available" | "scheduled" | "retrying"; run_at: Date; queue: string }[]
  >`
    UPDATE sluice.jobs SET
      state = CASE WHEN ${delay}::bigint = 0 THEN 'available'
        WHEN attempt <= 1 THEN 'scheduled' ELSE 'retrying' END,
      attempt = attempt - 1,
      run_at = now() + ${delay}::bigint * interval '1 millisecond',
      lease_expires_at = NULL, worker_id = NULL, leased_at = NULL,
      started_at = CASE WHEN attempt = 1 THEN NULL ELSE started_at END
    WHERE ${fencedOn(sql, fence)}
    RETURNING state, run_at, queue`;
  const row = rows[0];
  if (!row) throw staleLease(fence);
  if (row.state === "available") await notifyQueues(sql, [row.queue]);
  return { state: row.state, runAt: row.run_at };
}
