/**
 * The Prometheus series every role shares (DESIGN.md "Observability" is the minimum list).
 * `sluiceSeries(registry)` registers them once and hands back typed handles; the api's
 * middleware, the worker's `onAttempt` hook and the database gauges all write through these.
 */
import type { Counter, Gauge, Histogram, Registry } from "./metrics.ts";

export interface SluiceSeries {
  httpRequests: Counter;
  httpDuration: Histogram;
  dbQueryDuration: Histogram;
  dbStatementTimeouts: Counter;
  queueDepth: Gauge;
  oldestAvailable: Gauge;
  jobsProcessed: Counter;
  jobRetries: Counter;
  jobDuration: Histogram;
  jobWait: Histogram;
  dlqDepth: Gauge;
  rateLimitEvents: Counter;
  workers: Gauge;
  alertFiring: Gauge;
}

/** Wait times run from milliseconds to hours (a backlog), so the buckets go further up. */
export const WAIT_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400];

export function sluiceSeries(r: Registry): SluiceSeries {
  return {
    httpRequests: r.counter(
      "sluice_http_requests_total",
      "HTTP requests answered, by route pattern and status code",
      ["route", "status"],
    ),
    httpDuration: r.histogram(
      "sluice_http_request_duration_seconds",
      "HTTP request latency by route pattern",
      ["route"],
    ),
    dbQueryDuration: r.histogram(
      "sluice_db_query_duration_seconds",
      "Duration of instrumented database queries, by operation",
      ["op"],
    ),
    dbStatementTimeouts: r.counter(
      "sluice_db_statement_timeouts_total",
      "API requests whose database statement ran past SLUICE_DB_STATEMENT_TIMEOUT (answered 504 DATABASE_TIMEOUT), by route pattern",
      ["route"],
    ),
    queueDepth: r.gauge(
      "sluice_queue_depth",
      "Jobs per queue and state (succeeded and cancelled from a snapshot at most a minute old)",
      ["queue", "state"],
    ),
    oldestAvailable: r.gauge(
      "sluice_queue_oldest_available_seconds",
      "Age of the oldest runnable job per queue (time since it became due)",
      ["queue"],
    ),
    jobsProcessed: r.counter(
      "sluice_jobs_processed_total",
      "Finished attempts by queue and outcome (succeeded, failed, dead, timeout, …)",
      ["queue", "status"],
    ),
    jobRetries: r.counter(
      "sluice_job_retries_total",
      "Attempts that failed and were scheduled to run again",
      ["queue"],
    ),
    jobDuration: r.histogram(
      "sluice_job_duration_seconds",
      "Time one attempt ran, from lease to outcome",
      ["queue"],
    ),
    jobWait: r.histogram(
      "sluice_job_wait_seconds",
      "Time from a job becoming due (enqueue, or its run_at) to the start of its attempt",
      ["queue"],
      WAIT_BUCKETS,
    ),
    dlqDepth: r.gauge("sluice_dlq_depth", "Dead jobs per queue (the dead-letter queue)", ["queue"]),
    rateLimitEvents: r.counter(
      "sluice_rate_limit_events_total",
      "Requests refused by a rate limit, by scope (token, ip, queue) and route pattern",
      ["scope", "route"],
    ),
    workers: r.gauge("sluice_workers", "Workers seen within the last minute and not stopped"),
    alertFiring: r.gauge("sluice_alert_firing", "1 while an alert fires, else 0", ["alert"]),
  };
}

/** Times `fn` into `sluice_db_query_duration_seconds{op}`. */
export async function timed<T>(series: SluiceSeries, op: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    series.dbQueryDuration.observe({ op }, (performance.now() - t0) / 1000);
  }
}
