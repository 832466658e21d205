import { atomically, type Db } from "../db/connect.ts";
import { sampleQueueHistory } from "../queue/history.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * Counts finished jobs (succeeded, cancelled) per queue into `sluice.job_count_snapshots`, at
 * most once per `minIntervalMs`, so metrics scrapes read a small table instead of counting the
 * bulk of sluice.jobs (src/obs/db_gauges.ts). The count is one scan of the finished rows, which
 * the archiver keeps bounded. Replaces the whole snapshot in one transaction.
 */
export async function countFinishedJobs(
  sql: Db,
  { minIntervalMs = 60_000, now = null }: { minIntervalMs?: number; now?: Date | null } = {},
): Promise<{ counted: number }> {
  return await atomically(sql, async (tx) => {
    // One counter at a time, and skip when a recent snapshot exists.
    await tx`SELECT pg_advisory_xact_lock(hashtext('sluice.job_count_snapshots'))`;
    const [fresh] = await tx`
      SELECT 1 FROM sluice.job_count_snapshots
      WHERE counted_at > coalesce(${now}::timestamptz, now())
        - ${minIntervalMs} * interval '1 millisecond'
      LIMIT 1`;
    if (fresh) return { counted: 0 };
    await tx`DELETE FROM sluice.job_count_snapshots`;
    const rows = await tx`
      INSERT INTO sluice.job_count_snapshots (queue, state, n, counted_at)
      SELECT queue, state, count(*), coalesce(${now}::timestamptz, now())
      FROM sluice.jobs WHERE state IN ('succeeded', 'cancelled')
      GROUP BY queue, state
      RETURNING 1`;
    return { counted: rows.length };
  }) as { counted: number };
}

/**
 * The counter service. It runs every pass and the snapshot's own age (`minIntervalMs`, read from
 * the database) decides whether to count, so a new leader never counts twice in a minute. The
 * charts' queue history is sampled the same way (src/queue/history.ts).
 */
export function counter({ everyMs }: Every): MaintenanceService {
  return {
    name: "counter",
    everyMs,
    run: async (sql, { now }) => ({
      ...(await countFinishedJobs(sql, { now })),
      ...(await sampleQueueHistory(sql, { now })),
    }),
  };
}
