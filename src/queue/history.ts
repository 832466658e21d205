import { atomically, type Db } from "../db/connect.ts";

/**
 * Queue history for the ops page charts: the maintenance counter samples every queue once per
 * `HISTORY_SAMPLE_MS` (waiting, running, finished since the last sample) into
 * `sluice.queue_history`, and the charts read it back, so depth is drawn for hours the page
 * was not open. Kept `HISTORY_KEEP_MS`; the sampler prunes older rows as it writes.
 */

export const HISTORY_SAMPLE_MS = 60_000;
export const HISTORY_KEEP_MS = 24 * 3_600_000;

/** Points of the window, per window: a day at one point per minute would be 1,440 a queue. */
export const HISTORY_WINDOWS = {
  "1h": { windowMs: 3_600_000, bucketMs: 60_000 },
  "24h": { windowMs: HISTORY_KEEP_MS, bucketMs: 300_000 },
} as const;
export type HistoryWindow = keyof typeof HISTORY_WINDOWS;

export interface HistoryPoint {
  at: string;
  /** Most jobs waiting (scheduled, available, retrying) in the bucket. */
  waiting: number;
  running: number;
  /** Finished in the bucket. */
  succeeded: number;
  dead: number;
}

/**
 * One sample of every queue, unless one was taken less than `HISTORY_SAMPLE_MS` ago (so a new
 * leader or a short pass interval does not sample twice), then the prune.
 */
export async function sampleQueueHistory(
  sql: Db,
  { now = null, minIntervalMs = HISTORY_SAMPLE_MS }: { now?: Date | null; minIntervalMs?: number } =
    {},
): Promise<{ sampled: number; pruned: number }> {
  return await atomically(sql, async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('sluice.queue_history'))`;
    const [last] = await tx<{ at: Date | null }[]>`
      SELECT max(at) AS at FROM sluice.queue_history`;
    const at = now ?? (await tx<{ t: Date }[]>`SELECT now() AS t`)[0]!.t;
    if (last?.at && at.getTime() - last.at.getTime() < minIntervalMs) {
      return { sampled: 0, pruned: 0 };
    }
    // Finished since the last sample (a minute before the first one): each job counted once.
    const since = last?.at ?? new Date(at.getTime() - minIntervalMs);
    const sampled = await tx`
      WITH open AS (
        SELECT queue,
          count(*) FILTER (WHERE state IN ('scheduled', 'available', 'retrying'))::int AS waiting,
          count(*) FILTER (WHERE state = 'running')::int AS running
        FROM sluice.jobs WHERE state IN ('scheduled', 'available', 'retrying', 'running')
        GROUP BY queue
      ), done AS (
        SELECT queue,
          count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded,
          count(*) FILTER (WHERE state = 'dead')::int AS dead
        FROM sluice.jobs
        WHERE state IN ('succeeded', 'dead', 'cancelled')
          AND finished_at >= ${since} AND finished_at < ${at}
        GROUP BY queue
      )
      INSERT INTO sluice.queue_history (at, queue, waiting, running, succeeded, dead)
      SELECT ${at}, q.name, coalesce(o.waiting, 0), coalesce(o.running, 0),
        coalesce(d.succeeded, 0), coalesce(d.dead, 0)
      FROM sluice.queues q
      LEFT JOIN open o ON o.queue = q.name LEFT JOIN done d ON d.queue = q.name
      RETURNING 1`;
    const pruned = await tx`
      DELETE FROM sluice.queue_history
      WHERE at < ${at}::timestamptz - ${HISTORY_KEEP_MS} * interval '1 millisecond'`;
    return { sampled: sampled.length, pruned: pruned.count };
  }) as { sampled: number; pruned: number };
}

/** Every queue's points in the window, oldest first, bucketed (max depth, summed throughput). */
export async function queueHistory(
  sql: Db,
  window: HistoryWindow,
): Promise<
  { windowMs: number; bucketMs: number; queues: { name: string; points: HistoryPoint[] }[] }
> {
  const { windowMs, bucketMs } = HISTORY_WINDOWS[window];
  const rows = await sql<
    { queue: string; b: Date; waiting: number; running: number; succeeded: number; dead: number }[]
  >`
    SELECT queue, date_bin(${bucketMs} * interval '1 millisecond', at, 'epoch') AS b,
      max(waiting)::int AS waiting, max(running)::int AS running,
      sum(succeeded)::int AS succeeded, sum(dead)::int AS dead
    FROM sluice.queue_history
    WHERE at >= now() - ${windowMs} * interval '1 millisecond'
    GROUP BY 1, 2
    ORDER BY 1, 2`;
  const byQueue = new Map<string, HistoryPoint[]>();
  for (const r of rows) {
    const points = byQueue.get(r.queue) ?? [];
    points.push({
      at: r.b.toISOString(),
      waiting: r.waiting,
      running: r.running,
      succeeded: r.succeeded,
      dead: r.dead,
    });
    byQueue.set(r.queue, points);
  }
  return { windowMs, bucketMs, queues: [...byQueue].map(([name, points]) => ({ name, points })) };
}
