import { deepStrictEqual, equal, ok as assert, throws } from "node:assert/strict";
import { countFinishedJobs } from "../../src/maintenance/counter.ts";
import { evaluateAlerts } from "../../src/maintenance/alerts.ts";
import { DbGauges, readDbGauges } from "../../src/obs/db_gauges.ts";
import { createLogger, shownOnce } from "../../src/obs/log.ts";
import { Registry } from "../../src/obs/metrics.ts";
import { exposition, render } from "../../src/obs/prometheus.ts";
import { metricsSnapshot } from "../../src/obs/snapshot.ts";
import { createWorkerMetrics } from "../../src/obs/worker_metrics.ts";
import { startWorkerServer } from "../../src/obs/worker_server.ts";
import { versionInfo } from "../../src/version.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { Worker } from "../../src/worker/worker.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { parsePrometheus, valueOf } from "./_prom_parser.ts";

const DESIGN_SERIES = [
  "sluice_http_requests_total",
  "sluice_http_request_duration_seconds",
  "sluice_db_query_duration_seconds",
  "sluice_queue_depth",
  "sluice_jobs_processed_total",
  "sluice_job_retries_total",
  "sluice_job_duration_seconds",
  "sluice_job_wait_seconds",
  "sluice_dlq_depth",
  "sluice_rate_limit_events_total",
  "sluice_workers",
  "sluice_alert_firing",
];

const THRESHOLDS = {
  staleHeartbeatRatio: 0.25,
  callbackFailureRatio: 0.1,
  retrySuccessRate: 0.7,
  successRate: 0.9,
  depthGrowthMs: 900_000,
  dlqGrowth: 1,
  xminHorizonMs: 600_000,
  deadTupleRatio: 0.2,
};

Deno.test("render() escapes label values and writes cumulative histograms that parse", () => {
  const r = new Registry();
  r.counter("x_total", "a counter\nwith a newline", ["q"]).inc({ q: 'we"ird\\name\nx' }, 2);
  const h = r.histogram("h_seconds", "a histogram", ["q"], [0.1, 1]);
  h.observe({ q: "a" }, 0.05);
  h.observe({ q: "a" }, 0.5);
  h.observe({ q: "a" }, 5);
  const text = render(r.metrics());
  assert(text.includes('x_total{q="we\\"ird\\\\name\\nx"} 2'), text);
  assert(text.includes("# HELP x_total a counter\\nwith a newline"), text);
  const fam = parsePrometheus(text);
  equal(valueOf(fam, "x_total", { q: 'we"ird\\name\nx' }), 2);
  deepStrictEqual(
    fam.get("h_seconds")!.samples.filter((s) => s.name === "h_seconds_bucket").map((s) => s.value),
    [1, 2, 3],
  );
  equal(valueOf(fam, "h_seconds_sum", { q: "a" }), 5.55);
  throws(() => r.counter("x_total", "again", ["q"]).inc({ nope: "1" }), /no label 'nope'/);
  throws(() => parsePrometheus("y 1\n"), /before its # TYPE/);
});

Deno.test("Prometheus output has every DESIGN.md series with sensible values after a workload", async () => {
  await withTestDatabase(async (db) => {
    const registry = new Registry();
    const metrics = createWorkerMetrics(registry);
    const gauges = new DbGauges(db.sql, metrics.series, 0);
    registry.onCollect(() => gauges.apply());
    const w = new Worker({
      sql: db.sql,
      workerId: "metrics-w1",
      queues: null,
      concurrency: 10,
      leaseMs: 30_000,
      pollMs: 50,
      shutdownGraceMs: 2_000,
      onAttempt: metrics.onAttempt,
    });
    metrics.attach(w);
    try {
      await createQueue(db.sql, "fast", { backoff: { baseMs: 1, maxMs: 2 }, maxAttempts: 2 });
      await w.start();
      await enqueueJobs(db.sql, [
        ...Array.from({ length: 20 }, () => ({ queue: "fast", kind: "sluice.noop" })),
        { queue: "fast", kind: "sluice.fail" }, // fails twice: one retry, then dead
      ]);
      await waitFor(async () => {
        const [r] = await db.sql<[{ n: number }]>`
          SELECT count(*)::int AS n FROM sluice.jobs WHERE state IN ('succeeded', 'dead')`;
        return r.n === 21;
      }, { what: "21 finished jobs" });
      await waitFor(() =>
        metrics.series.jobsProcessed.get({ queue: "fast", status: "dead" }) === 1
      );
      // The api's middleware records requests; here we stand in for it.
      metrics.series.httpRequests.inc({ route: "/v1/jobs", status: "201" });
      metrics.series.httpDuration.observe({ route: "/v1/jobs" }, 0.004);
      await countFinishedJobs(db.sql);
      await evaluateAlerts(db.sql, THRESHOLDS);

      const fam = parsePrometheus(await exposition(registry));
      for (const name of DESIGN_SERIES) assert(fam.has(name), `missing ${name}`);
      equal(
        valueOf(fam, "sluice_jobs_processed_total", { queue: "fast", status: "succeeded" }),
        20,
      );
      equal(valueOf(fam, "sluice_jobs_processed_total", { queue: "fast", status: "failed" }), 1);
      equal(valueOf(fam, "sluice_jobs_processed_total", { queue: "fast", status: "dead" }), 1);
      equal(valueOf(fam, "sluice_job_retries_total", { queue: "fast" }), 1);
      equal(valueOf(fam, "sluice_job_duration_seconds_count", { queue: "fast" }), 22);
      equal(valueOf(fam, "sluice_job_wait_seconds_count", { queue: "fast" }), 22);
      const waitSum = valueOf(fam, "sluice_job_wait_seconds_sum", { queue: "fast" })!;
      assert(waitSum >= 0 && waitSum < 60, `wait sum ${waitSum}`);
      equal(valueOf(fam, "sluice_queue_depth", { queue: "fast", state: "succeeded" }), 20);
      equal(valueOf(fam, "sluice_queue_depth", { queue: "fast", state: "dead" }), 1);
      equal(valueOf(fam, "sluice_queue_depth", { queue: "fast", state: "available" }), 0);
      equal(valueOf(fam, "sluice_queue_depth", { queue: "default", state: "available" }), 0);
      equal(valueOf(fam, "sluice_dlq_depth", { queue: "fast" }), 1);
      equal(valueOf(fam, "sluice_workers"), 1);
      equal(valueOf(fam, "sluice_alert_firing", { alert: "dlq_growth" }), 1);
      equal(valueOf(fam, "sluice_alert_firing", { alert: "stale_heartbeat_ratio" }), 0);
      assert(
        valueOf(fam, "sluice_db_query_duration_seconds_count", { op: "metrics_gauges" })! >= 1,
      );
      equal(valueOf(fam, "sluice_http_requests_total", { route: "/v1/jobs", status: "201" }), 1);
      equal(valueOf(fam, "sluice_worker_in_flight"), 0);
      equal(valueOf(fam, "sluice_worker_last_lease_queue", { queue: "fast" }), 1);

      const snap = await metricsSnapshot(db.sql, { registry });
      equal(snap.runnableQueueDepth, 0);
      assert(snap.jobsPerSec > 0, `jobsPerSec ${snap.jobsPerSec}`);
      equal(snap.retryRate, Number((1 / 21).toFixed(4)));
      deepStrictEqual(snap.alertsFiring, ["dlq_growth"]);
      equal(snap.queues.fast!.dlqDepth, 1);
    } finally {
      await w.stop();
    }
  });
});

Deno.test("readDbGauges() counts unfinished states live and oldest available age", async () => {
  await withTestDatabase(async (db) => {
    await enqueueJobs(db.sql, [
      { kind: "a" },
      { kind: "b" },
      { kind: "c", delayMs: 3_600_000 },
    ]);
    await db.sql`UPDATE sluice.jobs SET run_at = now() - interval '90 seconds' WHERE kind = 'a'`;
    const f = await readDbGauges(db.sql);
    const q = f.queues.get("default")!;
    equal(q.counts.available, 2);
    equal(q.counts.scheduled, 1);
    assert(q.oldestAvailableSeconds! >= 89 && q.oldestAvailableSeconds! < 120);
  });
});

Deno.test("startWorkerServer() serves /healthz and /metrics/prom and survives a port in use", async () => {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const m = createWorkerMetrics();
  m.attach({ inFlight: 3, lastLeasedQueue: "q1" });
  const a = startWorkerServer({
    addr: { hostname: "127.0.0.1", port: 0 },
    registry: m.registry,
    log,
    health: () => ({ inFlight: 3 }),
  })!;
  try {
    const base = `http://127.0.0.1:${a.addr.port}`;
    const h = await fetch(`${base}/healthz`);
    const { version, commit } = versionInfo();
    deepStrictEqual(await h.json(), { status: "ok", version, commit, inFlight: 3 });
    const p = await fetch(`${base}/metrics/prom`);
    assert(p.headers.get("content-type")!.startsWith("text/plain; version=0.0.4"));
    const fam = parsePrometheus(await p.text());
    equal(valueOf(fam, "sluice_worker_in_flight"), 3);
    await (await fetch(`${base}/nope`)).body?.cancel();
    const b = startWorkerServer({
      addr: a.addr,
      registry: m.registry,
      log,
      health: () => ({}),
    });
    equal(b, null);
    assert(lines.some((l) => JSON.parse(l).msg === "worker_metrics_unavailable"), lines.join("\n"));
  } finally {
    await a.close();
  }
});

Deno.test("createLogger() never writes payloads, tokens, secrets or signature headers", () => {
  const lines: string[] = [];
  const log = createLogger({ role: "api", write: (l) => lines.push(l) });
  log.info("request", {
    payload: { card: "4111" },
    token_name: "ci",
    lease_token: "123",
    headers: { "webhook-signature": "v1,abc", "content-type": "application/json" },
    authorization: "Bearer sluice_abcdefghijklmnopqrstuvwxyz",
    signing_secrets: ["whsec_c2VjcmV0c2VjcmV0"],
    error: new Error("connect postgres://u:hunter2@db/x failed with Bearer abc.def"),
    note: "token sluice_abcdefghijklmnopqrstuvwxyz0123 leaked?",
  });
  const e = JSON.parse(lines[0]!);
  equal(e.role, "api");
  equal(e.token_name, "ci");
  equal(e.payload, undefined);
  equal(e.lease_token, undefined);
  equal(e.authorization, undefined);
  equal(e.signing_secrets, undefined);
  deepStrictEqual(e.headers, { "content-type": "application/json" });
  assert(!lines[0]!.includes("hunter2") && !lines[0]!.includes("abc.def"), lines[0]);
  assert(!lines[0]!.includes("abcdefghijklmnopqrstuvwxyz0123"), lines[0]);
});

Deno.test("announce() writes at any level; only a shownOnce() value passes the redaction", () => {
  const lines: string[] = [];
  const log = createLogger({ role: "up", level: "warn", write: (l) => lines.push(l) });
  const token = "sluice_abcdefghijklmnopqrstuvwxyz0123";
  log.info("dropped", {});
  log.announce("up_ready", { admin_token: shownOnce(token), other_token: token });
  equal(lines.length, 1);
  const e = JSON.parse(lines[0]!);
  deepStrictEqual([e.msg, e.level, e.admin_token, e.other_token], [
    "up_ready",
    "info",
    token,
    undefined,
  ]);
});

export type { Sql };
