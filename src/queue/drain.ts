import type { Sql } from "../db/connect.ts";
import { emptyCounts, type StateCounts } from "./inspect.ts";
import type { JobState } from "./job.ts";
import { type EngineDefaults, type Queue, setQueuePaused } from "./queues.ts";

export interface DrainStatus {
  queue: Queue;
  counts: StateCounts;
  /** Paused and nothing running: safe to stop its workers or change its delivery. */
  drained: boolean;
}

/**
 * Pauses a queue (no new leases) and reports how far it is from empty: running jobs finish on
 * their own; waiting ones stay for when the queue resumes. Calling it again polls the status.
 */
export async function drainQueue(sql: Sql, name: string, d: EngineDefaults): Promise<DrainStatus> {
  const queue = await setQueuePaused(sql, name, true, d);
  const counts = await countUnfinishedByState(sql, name);
  return { queue, counts, drained: counts.running === 0 };
}

/** Unfinished jobs of one queue by state (finished states stay 0: not needed here). */
export async function countUnfinishedByState(sql: Sql, queue: string): Promise<StateCounts> {
  const rows = await sql<{ state: JobState; n: number }[]>`
    SELECT state, count(*)::int AS n FROM sluice.jobs
    WHERE queue = ${queue} AND state IN ('scheduled', 'available', 'running', 'retrying')
    GROUP BY state`;
  const counts = emptyCounts();
  for (const r of rows) counts[r.state] = r.n;
  return counts;
}
