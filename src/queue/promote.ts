import type { Db } from "../db/connect.ts";
import { notifyQueues } from "./outcome.ts";

/**
 * Scheduled and retrying jobs whose time has come become available. Kept out of the lease
 * statement on purpose: the lease index then holds only runnable rows, so leasing stays flat no
 * matter how many jobs wait for later. Workers run this on their poll tick and maintenance on
 * its own, so a due job waits at most one poll interval.
 */
export async function promoteDueJobs(
  sql: Db,
  { batchSize = 5_000, now = null }: { batchSize?: number; now?: Date | null } = {},
): Promise<{ promoted: number }> {
  let promoted = 0;
  for (;;) {
    const rows = await sql<{ queue: string }[]>`
      WITH due AS (
        SELECT id FROM sluice.jobs
        WHERE state IN ('scheduled', 'retrying') AND run_at <= coalesce(${now}::timestamptz, now())
        ORDER BY run_at
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE sluice.jobs j SET state = 'available'
      FROM due WHERE j.id = due.id
      RETURNING j.queue`;
    promoted += rows.length;
    await notifyQueues(sql, rows.map((r) => r.queue));
    if (rows.length < batchSize) return { promoted };
  }
}
