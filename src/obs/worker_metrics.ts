/**
 * A worker's own metrics, fed by `Worker`'s `onAttempt` hook: attempts by outcome, retries,
 * attempt duration, wait time (due → lease), plus in-flight and the queue of the last lease read
 * from the worker at scrape time. Served by src/obs/worker_server.ts.
 */
import type { AttemptEvent } from "../worker/worker.ts";
import { Registry } from "./metrics.ts";
import { type SluiceSeries, sluiceSeries } from "./series.ts";

export interface WorkerMetricsSource {
  readonly inFlight: number;
  readonly lastLeasedQueue: string | null;
}

export interface WorkerMetrics {
  registry: Registry;
  series: SluiceSeries;
  /** Pass as `WorkerOptions.onAttempt`. */
  onAttempt(e: AttemptEvent): void;
  /** Reads in-flight and last-lease from this worker before each scrape. */
  attach(worker: WorkerMetricsSource): void;
}

/** Outcomes after which the job will run again. */
const RETRIED = new Set<AttemptEvent["status"]>(["failed", "timeout"]);

export function createWorkerMetrics(registry = new Registry()): WorkerMetrics {
  const series = sluiceSeries(registry);
  const inFlight = registry.gauge("sluice_worker_in_flight", "Attempts this worker runs now");
  const lastLease = registry.gauge(
    "sluice_worker_last_lease_queue",
    "1 for the queue this worker leased from most recently",
    ["queue"],
  );
  let worker: WorkerMetricsSource | null = null;
  registry.onCollect(() => {
    if (!worker) return;
    inFlight.set({}, worker.inFlight);
    const q = worker.lastLeasedQueue;
    lastLease.replace(q === null ? [] : [{ labels: { queue: q }, value: 1 }]);
  });
  return {
    registry,
    series,
    attach(w) {
      worker = w;
    },
    onAttempt(e) {
      const queue = e.job.queue;
      series.jobsProcessed.inc({ queue, status: e.status });
      if (RETRIED.has(e.status)) series.jobRetries.inc({ queue });
      series.jobDuration.observe({ queue }, e.durationMs / 1000);
      // Due time is run_at: the enqueue time for immediate jobs, the schedule or backoff end
      // otherwise; both come from PostgreSQL's clock, so no host clock skew enters.
      const waitMs = e.job.leasedAt.getTime() - e.job.runAt.getTime();
      series.jobWait.observe({ queue }, Math.max(0, waitMs) / 1000);
    },
  };
}
