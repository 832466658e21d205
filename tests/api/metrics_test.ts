import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { parsePrometheus, valueOf } from "../obs/_prom_parser.ts";
import { withTestApi } from "./_app.ts";
import { OPS_PAGE_PATHS } from "../../src/api/static.ts";

const DESIGN_SERIES = [
  "sluice_http_requests_total",
  "sluice_http_request_duration_seconds",
  "sluice_db_query_duration_seconds",
  "sluice_queue_depth",
  "sluice_dlq_depth",
  "sluice_rate_limit_events_total",
  "sluice_workers",
  "sluice_alert_firing",
];

Deno.test("GET /metrics and /metrics/prom: read scope, route patterns, rate limits, db timings", async (t) => {
  await withTestApi(async (api) => {
    await t.step("need a read token; producers and anonymous callers are refused", async () => {
      equal((await api.call("GET", "/metrics", { as: null })).status, 401);
      equal((await api.call("GET", "/metrics/prom", { as: null })).status, 401);
      equal((await api.call("GET", "/metrics/prom", { as: "producer" })).status, 403);
      equal((await api.call("GET", "/metrics", { as: "read" })).status, 200);
    });

    await t.step("the Prometheus text parses and counts requests by route pattern", async () => {
      equal(
        (await api.call("POST", "/v1/jobs", { as: "producer", body: { kind: "a" } })).status,
        201,
      );
      equal((await api.call("GET", "/v1/jobs/123456")).status, 404);
      equal((await api.call("GET", "/v1/jobs/654321")).status, 404);
      equal((await api.call("GET", "/no/such/path", { as: null })).status, 404);
      const r = await api.call("GET", "/metrics/prom", { as: "read" });
      equal(r.status, 200);
      assert(r.headers.get("content-type")!.startsWith("text/plain; version=0.0.4"));
      const fam = parsePrometheus(r.body);
      for (const name of DESIGN_SERIES) assert(fam.has(name), `missing ${name}`);
      equal(valueOf(fam, "sluice_http_requests_total", { route: "/v1/jobs", status: "201" }), 1);
      equal(
        valueOf(fam, "sluice_http_requests_total", { route: "/v1/jobs/:id", status: "404" }),
        2,
        "one series for every job id",
      );
      equal(valueOf(fam, "sluice_http_requests_total", { route: "unmatched", status: "404" }), 1);
      assert(!r.body.includes("123456"), "raw paths never become labels");
      equal(valueOf(fam, "sluice_http_request_duration_seconds_count", { route: "/v1/jobs" }), 1);
      equal(valueOf(fam, "sluice_db_query_duration_seconds_count", { op: "enqueue" }), 1);
      assert(
        valueOf(fam, "sluice_db_query_duration_seconds_count", { op: "metrics_gauges" })! >= 1,
      );
      equal(valueOf(fam, "sluice_queue_depth", { queue: "default", state: "available" }), 1);
      for (const scope of ["token", "ip", "queue"]) {
        equal(valueOf(fam, "sluice_rate_limit_events_total", { scope }), 0, scope);
      }
    });

    await t.step("rate-limit refusals and admission denials are counted by scope", async () => {
      equal(
        (await api.call("POST", "/v1/queues", { body: { name: "tight", maxQueueSize: 1 } }))
          .status,
        201,
      );
      const one = { queue: "tight", kind: "a" };
      equal((await api.call("POST", "/v1/jobs", { body: one })).status, 201);
      equal((await api.call("POST", "/v1/jobs", { body: one })).body.error.code, "QUEUE_FULL");
      // As if two requests had been over the per-token limit.
      for (let i = 0; i < 2; i++) api.ctx.limiter.count("token", "/v1/queues");
      const fam = parsePrometheus((await api.call("GET", "/metrics/prom", { as: "read" })).body);
      equal(
        valueOf(fam, "sluice_rate_limit_events_total", { scope: "queue", route: "/v1/jobs" }),
        1,
      );
      equal(
        valueOf(fam, "sluice_rate_limit_events_total", { scope: "token", route: "/v1/queues" }),
        2,
      );
    });

    await t.step("GET /metrics is a JSON snapshot of the same facts", async () => {
      const r = await api.call("GET", "/metrics", { as: "read" });
      equal(r.status, 200);
      equal(r.body.window, "1m");
      equal(r.body.runnableQueueDepth, 2);
      equal(r.body.queues.tight.counts.available, 1);
      assert(typeof r.body.jobsPerSec === "number" && typeof r.body.retryRate === "number");
      assert(r.body.metrics.sluice_http_requests_total.samples.length > 0);
    });

    await t.step("one access-log line per request with route pattern and token name", () => {
      const line = api.logs.find((l) =>
        l.msg === "http_request" && l.route === "/v1/jobs/:id" && l.status === 404
      )!;
      assert(line, "access log line");
      equal(line.level, "info");
      equal(line.method, "GET");
      equal(line.token_name, "t-admin");
      assert(typeof line.latency_ms === "number");
      assert(typeof line.request_id === "string" && line.request_id.length > 0);
      const anon = api.logs.find((l) => l.msg === "http_request" && l.route === "unmatched")!;
      equal(anon.token_name, null);
    });
  }, { SLUICE_API_RATE_LIMIT: "1000" });
});

Deno.test("SLUICE_METRICS_PUBLIC=true serves the metrics without a token", async () => {
  await withTestApi(async (api) => {
    equal((await api.call("GET", "/metrics/prom", { as: null })).status, 200);
    equal((await api.call("GET", "/metrics", { as: null })).status, 200);
    // Only the metrics: everything else still needs a token.
    equal((await api.call("GET", "/v1/ops/queues", { as: null })).status, 401);
  }, { SLUICE_METRICS_PUBLIC: "true" });
});

Deno.test("the OpenAPI document lists every route the app serves", async () => {
  await withTestApi(async (api) => {
    const doc = (await api.call("GET", "/v1/openapi.json", { as: null })).body;
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, object>)) {
      for (const method of Object.keys(ops)) {
        documented.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`);
      }
    }
    const pagePaths = new Set([...OPS_PAGE_PATHS, "/v1/openapi.json"]);
    const served = api.app.routes
      .filter((r) => r.method !== "ALL" && !pagePaths.has(r.path))
      .map((r) => `${r.method} ${r.path}`);
    const missing = [...new Set(served)].filter((r) => !documented.has(r));
    deepStrictEqual(missing, []);
    for (
      const r of [
        "GET /metrics",
        "GET /metrics/prom",
        "GET /health",
        "GET /v1/ops/queues",
        "GET /v1/ops/alerts",
        "GET /v1/schedules",
        "POST /v1/schedules",
        "DELETE /v1/schedules/:name",
        "POST /v1/callbacks",
        "GET /v1/circuits",
      ]
    ) {
      assert(documented.has(r), r);
    }
  });
});
