import type { Db } from "../db/connect.ts";

/**
 * Seconds since the oldest runnable job of each named queue became due (absent when none is
 * available), by the database's clock. Index-only over jobs_available_idx, like the scrape
 * gauges (src/obs/db_gauges.ts): the caller caches it, since a deep queue makes it a long range.
 */
export async function oldestWaitingSeconds(
  sql: Db,
  queues: readonly string[],
): Promise<Map<string, number>> {
  if (queues.length === 0) return new Map();
  const rows = await sql<{ queue: string; s: number }[]>`
    SELECT queue, greatest(0, extract(epoch FROM now() - min(run_at)))::float8 AS s
    FROM sluice.jobs WHERE state = 'available' AND queue = ANY(${queues as string[]})
    GROUP BY queue`;
  return new Map(rows.map((r) => [r.queue, r.s]));
}
