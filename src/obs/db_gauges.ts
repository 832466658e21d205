/**
 * Gauges read from PostgreSQL at scrape time: depth per queue and state, DLQ depth, age of the
 * oldest runnable job, live workers, firing alerts. One statement (one round trip, one
 * snapshot), cached for a few seconds and single-flighted, so many scrapers cost one query.
 *
 * It must stay fast with millions of rows, so nothing here counts finished jobs live:
 * - available, running, scheduled, retrying: counted exactly through their partial indexes
 *   (jobs_available_idx and jobs_waiting_queue_idx index-only; running is bounded by total
 *   concurrency);
 * - dead: exactly, index-only through jobs_dead_idx (queue, finished_at) — the DLQ is small
 *   and operators want the exact figure;
 * - succeeded, cancelled: from `sluice.job_count_snapshots`, which the maintenance `counter`
 *   service refreshes at most once a minute. Succeeded rows are the bulk of the table (until
 *   archived), and an exact count of them per scrape would be a full scan. pg_class estimates
 *   were rejected: they are per table, not per queue and state.
 * Measured with 1,000,000 jobs in `bench/metrics.ts` (see README "Metrics").
 */
import { atomically, type Db, type Sql } from "../db/connect.ts";
import { JOB_STATES, type JobState } from "../queue/job.ts";
import { emptyCounts, type StateCounts } from "../queue/inspect.ts";
import type { SluiceSeries } from "./series.ts";
import { timed } from "./series.ts";

/** Alert names the evaluator knows; the gauge shows each, 0 until it fires. */
export const ALERT_NAMES = [
  "stale_heartbeat_ratio",
  "callback_failure_ratio",
  "retry_success_rate",
  "success_rate",
  "queue_depth_growing",
  "dlq_growth",
  "table_health",
  "schedule_failing",
] as const;
export type AlertName = typeof ALERT_NAMES[number];

export interface QueueGauge {
  counts: StateCounts;
  /** Seconds since the oldest available job became due; null when none is available. */
  oldestAvailableSeconds: number | null;
}

export interface DbGaugeFacts {
  at: Date;
  queues: Map<string, QueueGauge>;
  workers: number;
  alerts: Map<string, boolean>;
  /** When succeeded/cancelled were last counted by maintenance; null = never. */
  finishedCountedAt: Date | null;
}

interface Row {
  k: "q" | "j" | "w" | "a" | "now";
  queue: string | null;
  state: JobState | null;
  n: string;
  t: Date | null;
}

/** One statement; each branch is shaped to use its partial index (see the module comment). */
export async function readDbGauges(sql: Db): Promise<DbGaugeFacts> {
  // Serial plan: each branch reads a small index, and launching parallel workers cost more
  // than the scan itself (seconds on a loaded 2-core host in bench/metrics.ts).
  const rows = await atomically(sql, async (tx) => {
    await tx`SET LOCAL max_parallel_workers_per_gather = 0`;
    return await tx<Row[]>`
    SELECT 'q' AS k, name AS queue, NULL AS state, 0::bigint AS n, NULL::timestamptz AS t
      FROM sluice.queues
    UNION ALL SELECT 'j', queue, 'available', count(*), min(run_at)
      FROM sluice.jobs WHERE state = 'available' GROUP BY queue
    UNION ALL SELECT 'j', queue, state, count(*), NULL
      FROM sluice.jobs WHERE state IN ('scheduled', 'retrying') GROUP BY queue, state
    UNION ALL SELECT 'j', queue, 'running', count(*), NULL
      FROM sluice.jobs WHERE state = 'running' GROUP BY queue
    UNION ALL SELECT 'j', queue, 'blocked', count(*), NULL
      FROM sluice.jobs WHERE state = 'blocked' GROUP BY queue
    UNION ALL SELECT 'j', queue, 'dead', count(*), NULL
      FROM sluice.jobs WHERE state = 'dead' GROUP BY queue
    UNION ALL SELECT 'j', queue, state, n, counted_at FROM sluice.job_count_snapshots
    UNION ALL SELECT 'w', NULL, NULL, count(*), NULL FROM sluice.workers
      WHERE stopped_at IS NULL AND last_seen_at > now() - interval '60 seconds'
    UNION ALL SELECT 'a', name, NULL, max(CASE WHEN state = 'firing' THEN 1 ELSE 0 END), NULL
      FROM sluice.alerts GROUP BY name
    UNION ALL SELECT 'now', NULL, NULL, 0, now()`;
  }) as Row[];
  const facts: DbGaugeFacts = {
    at: new Date(),
    queues: new Map(),
    workers: 0,
    alerts: new Map(ALERT_NAMES.map((a) => [a, false])),
    finishedCountedAt: null,
  };
  const queue = (name: string) => {
    let q = facts.queues.get(name);
    if (!q) facts.queues.set(name, q = { counts: emptyCounts(), oldestAvailableSeconds: null });
    return q;
  };
  for (const r of rows) if (r.k === "now") facts.at = r.t!;
  for (const r of rows) {
    if (r.k === "q") queue(r.queue!);
    else if (r.k === "w") facts.workers = Number(r.n);
    else if (r.k === "a") facts.alerts.set(r.queue!, Number(r.n) === 1);
    else if (r.k === "j" && JOB_STATES.includes(r.state!)) {
      const q = queue(r.queue!);
      q.counts[r.state!] = Number(r.n);
      if (r.state === "available" && r.t) {
        q.oldestAvailableSeconds = Math.max(0, (facts.at.getTime() - r.t.getTime()) / 1000);
      }
      if ((r.state === "succeeded" || r.state === "cancelled") && r.t) {
        if (!facts.finishedCountedAt || r.t > facts.finishedCountedAt) {
          facts.finishedCountedAt = r.t;
        }
      }
    }
  }
  return facts;
}

/**
 * Caches `readDbGauges` for `ttlMs` and writes it into the shared series before each scrape.
 * Concurrent scrapes share one query in flight.
 */
export class DbGauges {
  #facts: DbGaugeFacts | null = null;
  #readAt = 0;
  #inflight: Promise<DbGaugeFacts> | null = null;

  constructor(
    readonly sql: Sql,
    readonly series: SluiceSeries,
    readonly ttlMs = 5_000,
  ) {}

  /**
   * Facts at most `maxAgeMs` old (default: the cache TTL). `0` reads anew and alone, so the
   * caller sees its own writes (the API's `GET /v1/queues`); the result refreshes the cache.
   */
  async facts(maxAgeMs = this.ttlMs): Promise<DbGaugeFacts> {
    if (this.#facts && performance.now() - this.#readAt < maxAgeMs) return this.#facts;
    const read = () =>
      timed(this.series, "metrics_gauges", () => readDbGauges(this.sql)).then((f) => {
        this.#facts = f;
        this.#readAt = performance.now();
        return f;
      });
    if (maxAgeMs <= 0) return await read();
    this.#inflight ??= read().finally(() => this.#inflight = null);
    return await this.#inflight;
  }

  /** Sets the gauges from (cached) facts; register with `registry.onCollect(() => g.apply())`. */
  async apply(): Promise<void> {
    const f = await this.facts();
    const s = this.series;
    const depth = [], dlq = [], oldest = [];
    for (const [queue, q] of f.queues) {
      for (const state of JOB_STATES) {
        depth.push({ labels: { queue, state }, value: q.counts[state] });
      }
      dlq.push({ labels: { queue }, value: q.counts.dead });
      oldest.push({ labels: { queue }, value: q.oldestAvailableSeconds ?? 0 });
    }
    s.queueDepth.replace(depth);
    s.dlqDepth.replace(dlq);
    s.oldestAvailable.replace(oldest);
    s.workers.set({}, f.workers);
    s.alertFiring.replace(
      [...f.alerts].map(([alert, on]) => ({ labels: { alert }, value: on ? 1 : 0 })),
    );
  }
}
