import type { Db } from "../db/connect.ts";
import { emptyCounts, type StateCounts } from "./inspect.ts";
import type { JobState } from "./job.ts";
import { type EngineDefaults, type Queue, setQueuePaused, setQueueRefusingNew } from "./queues.ts";

export interface DrainStatus {
  queue: Queue;
  counts: StateCounts;
  /**
   * Paused and nothing running (safe to stop its workers or change its delivery); with
   * `refuseNew`, nothing unfinished at all (the queue ran itself empty).
   */
  drained: boolean;
}

/**
 * Two ways to drain, both polled by calling again:
 * - default: pauses the queue (no new leases) and reports how far it is from idle: running jobs
 *   finish on their own; waiting ones stay for when the queue resumes;
 * - `refuseNew`: refuses new enqueues (QUEUE_DRAINING) and keeps processing, so the queue runs
 *   down to zero (before a queue is retired or its handlers change). Resume undoes either.
 */
export async function drainQueue(
  sql: Db,
  name: string,
  d: EngineDefaults,
  { refuseNew = false }: { refuseNew?: boolean } = {},
): Promise<DrainStatus> {
  const queue = refuseNew
    ? await setQueueRefusingNew(sql, name, true, d)
    : await setQueuePaused(sql, name, true, d);
  const counts = await countUnfinishedByState(sql, name);
  const drained = refuseNew ? Object.values(counts).every((n) => n === 0) : counts.running === 0;
  return { queue, counts, drained };
}

/** Unfinished jobs of one queue by state (finished states stay 0: not needed here). */
export async function countUnfinishedByState(sql: Db, queue: string): Promise<StateCounts> {
  const rows = await sql<{ state: JobState; n: number }[]>`
    SELECT state, count(*)::int AS n FROM sluice.jobs
    WHERE queue = ${queue}
        AND state IN ('blocked', 'scheduled', 'available', 'running', 'retrying')
    GROUP BY state`;
  const counts = emptyCounts();
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}
