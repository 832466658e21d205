/**
 * Admission control for enqueues: max enqueues per minute and max queue size, per queue
 * (payload size is checked by `enqueueJobs` itself).
 *
 * Why these shapes, at 1,000+ enqueues/s:
 * - Enqueue rate: one upsert on a per-queue, per-minute row (`sluice.enqueue_windows`), only for
 *   queues that have a limit. It is exact across every api process, costs one short statement,
 *   and never reads the jobs table. Fixed windows allow up to 2x the limit across a minute
 *   boundary; that is the usual trade for O(1) state.
 * - Queue size: a bounded count (`LIMIT max+1`) of the queue's unfinished jobs, cached per process
 *   and refreshed at most once a second, plus what this process admitted since the refresh. So
 *   the jobs table is touched once a second per limited queue, whatever the request rate. A
 *   trigger-maintained counter would be exact but would put one hot row under every insert and
 *   every state change of the queue, the very contention the engine avoids (no FK on queue).
 *   Several api processes can overshoot the limit by at most what they admit in one second.
 */
import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import type { Queue } from "./queues.ts";

const SIZE_REFRESH_MS = 1_000;
/** What a QUEUE_FULL answer suggests: a queue drains on the scale of seconds, not minutes. */
const QUEUE_FULL_RETRY_AFTER_S = 5;

interface SizeEntry {
  at: number;
  count: number;
  refreshing: Promise<void> | null;
}

export interface Reservation {
  /** Gives back the enqueue-rate budget when the insert did not happen after all. */
  release(): Promise<void>;
  /** Counts admitted jobs towards the cached queue sizes. */
  commit(): void;
}

export class Admission {
  readonly #sql: Db;
  readonly #sizes = new Map<string, SizeEntry>();
  readonly #now: () => number;

  constructor(sql: Db, { now = () => performance.now() }: { now?: () => number } = {}) {
    this.#sql = sql;
    this.#now = now;
  }

  /**
   * Checks every queue of a request (`wanted`: jobs per queue) and reserves their rate budget.
   * Throws `QUEUE_FULL` or `ENQUEUE_RATE_EXCEEDED` (details carry `retryAfterSeconds`) and
   * leaves nothing reserved when any queue refuses.
   */
  async admit(queues: Map<string, Queue>, wanted: Map<string, number>): Promise<Reservation> {
    for (const [name, n] of wanted) {
      const q = queues.get(name);
      const max = q?.effective.maxQueueSize ?? null;
      if (max === null) continue;
      const size = await this.#size(name, max);
      if (size + n > max) {
        throw new SluiceError(
          "QUEUE_FULL",
          `queue '${name}' holds ${size} unfinished jobs and accepts at most ${max}`,
          { queue: name, size, max, retryAfterSeconds: QUEUE_FULL_RETRY_AFTER_S },
        );
      }
    }
    const reserved: [string, number][] = [];
    const release = async () => {
      for (const [name, n] of reserved.splice(0)) await releaseEnqueues(this.#sql, name, n);
    };
    try {
      for (const [name, n] of wanted) {
        const limit = queues.get(name)?.effective.maxEnqueuePerMinute ?? null;
        if (limit === null) continue;
        await reserveEnqueues(this.#sql, name, n, limit);
        reserved.push([name, n]);
      }
    } catch (e) {
      await release();
      throw e;
    }
    return {
      release,
      commit: () => {
        for (const [name, n] of wanted) {
          const entry = this.#sizes.get(name);
          if (entry) entry.count += n;
        }
      },
    };
  }

  async #size(queue: string, max: number): Promise<number> {
    let entry = this.#sizes.get(queue);
    if (!entry) {
      entry = { at: -Infinity, count: 0, refreshing: null };
      this.#sizes.set(queue, entry);
    }
    if (this.#now() - entry.at >= SIZE_REFRESH_MS) {
      const e = entry;
      // Concurrent requests share one refresh.
      e.refreshing ??= countUnfinished(this.#sql, queue, max).then((n) => {
        e.count = n;
        e.at = this.#now();
      }).finally(() => (e.refreshing = null));
      await e.refreshing;
    }
    return entry.count;
  }
}

/** Unfinished jobs of a queue, counted no further than `max + 1`. */
export async function countUnfinished(sql: Db, queue: string, max: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (
      SELECT 1 FROM sluice.jobs
      WHERE queue = ${queue}
        AND state IN ('blocked', 'scheduled', 'available', 'running', 'retrying')
      LIMIT ${max + 1}
    ) x`;
  return row?.n ?? 0;
}

/** Takes `n` from the queue's budget for the current minute, or throws ENQUEUE_RATE_EXCEEDED. */
export async function reserveEnqueues(
  sql: Db,
  queue: string,
  n: number,
  limit: number,
): Promise<void> {
  // The WHERE on DO UPDATE makes check-and-increment one atomic step under the row lock.
  const rows = n > limit ? [] : await sql<{ count: string }[]>`
    INSERT INTO sluice.enqueue_windows AS w (queue, window_start, count)
    VALUES (${queue}, date_trunc('minute', now()), ${n})
    ON CONFLICT (queue, window_start) DO UPDATE SET count = w.count + excluded.count
      WHERE w.count + excluded.count <= ${limit}
    RETURNING count`;
  if (rows.length > 0) return;
  const [t] = await sql<{ s: number }[]>`
    SELECT greatest(1, ceil(extract(epoch FROM
      date_trunc('minute', now()) + interval '1 minute' - now())))::int AS s`;
  const retryAfterSeconds = t?.s ?? 60;
  throw new SluiceError(
    "ENQUEUE_RATE_EXCEEDED",
    `queue '${queue}' accepts at most ${limit} enqueues per minute; retry in ${retryAfterSeconds}s`,
    { queue, limit, retryAfterSeconds },
  );
}

export async function releaseEnqueues(sql: Db, queue: string, n: number): Promise<void> {
  await sql`
    UPDATE sluice.enqueue_windows SET count = greatest(0, count - ${n})
    WHERE queue = ${queue} AND window_start = date_trunc('minute', now())`;
}

/** Old windows are useless after their minute; the api prunes them now and then. */
export async function pruneEnqueueWindows(sql: Db): Promise<number> {
  const rows = await sql`
    DELETE FROM sluice.enqueue_windows WHERE window_start < now() - interval '10 minutes'
    RETURNING 1`;
  return rows.length;
}
