/**
 * `GET /metrics` (JSON): the facts of `/metrics/prom` as one document, plus three headline
 * figures over the last minute, read from the database so every api process agrees:
 *   jobsPerSec          jobs finished (succeeded or dead) per second
 *   retryRate           share of those that needed more than one attempt
 *   runnableQueueDepth  available jobs across all queues, now
 * The finished-in-the-last-minute count walks only the recent end of jobs_finished_idx.
 */
import type { Db } from "../db/connect.ts";
import type { StateCounts } from "../queue/inspect.ts";
import { type DbGaugeFacts, readDbGauges } from "./db_gauges.ts";
import type { Metric, Registry } from "./metrics.ts";

export interface MetricsSnapshot {
  at: string;
  window: "1m";
  jobsPerSec: number;
  retryRate: number;
  runnableQueueDepth: number;
  queues: Record<
    string,
    { counts: StateCounts; dlqDepth: number; oldestAvailableSeconds: number | null }
  >;
  workers: number;
  alertsFiring: string[];
  /** Every series of the process registry (counters, gauges, histograms) when one is given. */
  metrics?: Record<string, unknown>;
}

export async function metricsSnapshot(
  sql: Db,
  { facts = null, registry = null }: {
    /** Gauge facts already read (e.g. from a `DbGauges` cache); read fresh when null. */
    facts?: DbGaugeFacts | null;
    registry?: Registry | null;
  } = {},
): Promise<MetricsSnapshot> {
  const f = facts ?? await readDbGauges(sql);
  const [r] = await sql<[{ done: number; retried: number }]>`
    SELECT count(*) FILTER (WHERE state IN ('succeeded', 'dead'))::int AS done,
      count(*) FILTER (WHERE state IN ('succeeded', 'dead') AND attempt > 1)::int AS retried
    FROM sluice.jobs
    WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at > now() - interval '1 minute'`;
  const queues: MetricsSnapshot["queues"] = {};
  let runnable = 0;
  for (const [name, q] of f.queues) {
    queues[name] = {
      counts: q.counts,
      dlqDepth: q.counts.dead,
      oldestAvailableSeconds: q.oldestAvailableSeconds,
    };
    runnable += q.counts.available;
  }
  return {
    at: f.at.toISOString(),
    window: "1m",
    jobsPerSec: Math.round((r.done / 60) * 1000) / 1000,
    retryRate: r.done === 0 ? 0 : Math.round((r.retried / r.done) * 10000) / 10000,
    runnableQueueDepth: runnable,
    queues,
    workers: f.workers,
    alertsFiring: [...f.alerts].filter(([, on]) => on).map(([a]) => a),
    ...(registry ? { metrics: registryJson(registry.metrics()) } : {}),
  };
}

/** A registry as JSON: `{name: {type, help, samples: [...]}}`. */
export function registryJson(metrics: readonly Metric[]): Record<string, unknown> {
  return Object.fromEntries(metrics.map((m) => [m.name, {
    type: m.type,
    help: m.help,
    samples: m.type === "histogram"
      ? m.samples().map((s) => ({
        labels: s.labels,
        count: s.count,
        sum: s.sum,
        buckets: Object.fromEntries(m.buckets.map((b, i) => [String(b), s.counts[i]])),
      }))
      : m.samples(),
  }]));
}
