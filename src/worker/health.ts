/**
 * The worker's `/healthz` body (issue #21): per served queue, attempts in flight, jobs held
 * (prefetched, not started), and the age of the oldest waiting job. The age comes from the
 * database, read at most every `ttlMs` by one query in flight at a time; a read that takes
 * longer than `waitMs` (a slow or unreachable database) is not waited for, so liveness answers
 * at once, with the last figures and when they were read (`waitingReadAt`, null before any).
 */
import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { oldestWaitingSeconds } from "../queue/waiting.ts";

export interface QueueHealth {
  name: string;
  inFlight: number;
  held: number;
  oldestWaitingSeconds: number | null;
}

export interface WorkerHealth {
  inFlight: number;
  held: number;
  capacity: number;
  queues: QueueHealth[];
  waitingReadAt: string | null;
}

/** What health reads from the worker (src/worker/worker.ts). */
export interface HealthSource {
  readonly inFlight: number;
  queueStats(): Map<string, { inFlight: number; held: number }>;
}

export function workerHealth(
  sql: Sql,
  worker: () => HealthSource | null,
  { capacity, log, ttlMs = 5_000, waitMs = 1_000 }: {
    capacity: number;
    log: Logger;
    ttlMs?: number;
    waitMs?: number;
  },
): () => Promise<WorkerHealth> {
  let waiting = new Map<string, number>();
  let readAt: Date | null = null;
  let readMono = -Infinity;
  let reading: Promise<void> | null = null;
  const refresh = (names: string[]) =>
    reading ??= oldestWaitingSeconds(sql, names).then((m) => {
      waiting = m;
      readAt = new Date();
      readMono = performance.now();
    }, (e) => log.warn("worker_health_read_failed", { error: e })).finally(() => {
      reading = null;
    });
  return async function health(): Promise<WorkerHealth> {
    const w = worker();
    // One moment for every count: the database read below may take a while, and the totals
    // must agree with the per-queue figures they sum.
    const stats = w?.queueStats() ?? new Map<string, { inFlight: number; held: number }>();
    const inFlight = w?.inFlight ?? 0;
    if (performance.now() - readMono >= ttlMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        refresh([...stats.keys()]),
        new Promise((r) => (timer = setTimeout(r, waitMs))),
      ]);
      clearTimeout(timer);
    }
    const queues = [...stats].map(([name, s]) => ({
      name,
      inFlight: s.inFlight,
      held: s.held,
      oldestWaitingSeconds: waiting.get(name) ?? null,
    })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return {
      inFlight,
      held: queues.reduce((n, q) => n + q.held, 0),
      capacity,
      queues,
      waitingReadAt: readAt?.toISOString() ?? null,
    };
  };
}
