/**
 * Telemetry inside one process, against the in-test OTLP receiver: a library enqueue inside the
 * caller's own span stores that trace with the job; failed attempts are error spans with their
 * code; log lines inside an attempt carry its ids; and a collector that is down neither stops
 * the jobs nor grows the queue without bound (drops are counted, failures are in the health).
 */
import { equal, ok as assert } from "node:assert/strict";
import { context, trace } from "@opentelemetry/api";
import { requireConfig } from "../../src/config/load.ts";
import { createLogger, type Logger, LogTap } from "../../src/obs/log.ts";
import { Registry } from "../../src/obs/metrics.ts";
import { startTelemetry, type Telemetry } from "../../src/obs/telemetry/mod.ts";
import { MAX_QUEUE } from "../../src/obs/telemetry/sdk.ts";
import { telemetrySettings } from "../../src/obs/telemetry/settings.ts";
import { tracer } from "../../src/obs/trace.ts";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { permanentFailure } from "../../src/worker/failure.ts";
import { handlerMap } from "../../src/worker/handlers.ts";
import { Worker } from "../../src/worker/worker.ts";
import { jobStates, type Sql, withTestDatabase } from "../_helpers/db.ts";
import { freePort } from "../_helpers/net.ts";
import { waitFor } from "../_helpers/wait.ts";
import { OtlpReceiver } from "./_otlp_receiver.ts";

const ERROR = 2;

function start(
  endpoint: string,
  registry: Registry,
  tap?: LogTap,
  log?: Logger,
): Promise<Telemetry> {
  return startTelemetry({
    settings: telemetrySettings(
      requireConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: "200",
        OTEL_EXPORTER_OTLP_TIMEOUT: "1000",
      }).config,
      "worker",
    ),
    role: "worker",
    registry,
    tap,
    log,
    instanceId: "test",
  });
}

function worker(sql: Sql, log = createLogger({ write: () => {} })): Worker {
  return new Worker({
    sql,
    workerId: `otel-${crypto.randomUUID().slice(0, 8)}`,
    queues: ["traced"],
    concurrency: 8,
    leaseMs: 30_000,
    pollMs: 100,
    shutdownGraceMs: 2_000,
    tracing: true,
    log,
    handlers: handlerMap({
      "ok": (_p, ctx) => {
        ctx.log.info("handler_ran", {});
        return { done: true };
      },
      "boom": () => {
        throw permanentFailure("card declined", "CARD_DECLINED");
      },
    }),
  });
}

const states = jobStates;

Deno.test("enqueueJobs() inside a library span: the attempt continues that trace; a failed attempt is an error span; log lines carry the ids", async () => {
  const otlp = new OtlpReceiver();
  await withTestDatabase(async (db) => {
    const tap = new LogTap();
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), tap });
    const telemetry = await start(otlp.url, new Registry(), tap);
    const w = worker(db.sql, log);
    try {
      await createQueue(db.sql, "traced", {});
      const outer = tracer().startSpan("checkout");
      const outerCtx = trace.setSpan(context.active(), outer);
      const [ok, boom] = await context.with(outerCtx, () =>
        enqueueJobs(db.sql, [
          { queue: "traced", kind: "ok" },
          { queue: "traced", kind: "boom", maxAttempts: 1 },
        ]));
      outer.end();
      const traceId = outer.spanContext().traceId;
      const [stored] = await db.sql<{ trace_context: { traceparent: string } }[]>`
      SELECT trace_context FROM sluice.jobs WHERE id = ${ok!.job.id}`;
      assert(stored!.trace_context.traceparent.startsWith(`00-${traceId}-`), "stored with the job");

      await w.start();
      await waitFor(
        async () => (await states(db.sql)).succeeded === 1 && (await states(db.sql)).dead === 1,
        {
          what: "one job succeeded, one dead",
        },
      );
      await telemetry.flush();
      await otlp.waitFor(
        () => otlp.spans.filter((s) => s.name === "process traced").length === 2,
        "two attempt spans",
      );
      const send = otlp.spans.find((s) => s.name === "send traced")!;
      equal(send.traceId, traceId);
      equal(send.attributes["messaging.batch.message_count"], 2);
      const byId = (id: string) =>
        otlp.spans.find((s) =>
          s.name === "process traced" && s.attributes["messaging.message.id"] === id
        )!;
      const good = byId(ok!.job.id);
      const bad = byId(boom!.job.id);
      equal(good.traceId, traceId);
      equal(good.parentSpanId, send.spanId);
      equal(good.status.code, 0);
      equal(good.attributes["sluice.outcome"], "succeeded");
      equal(bad.traceId, traceId);
      equal(bad.status.code, ERROR, "a failed attempt is an error span");
      equal(bad.attributes["error.type"], "CARD_DECLINED");
      equal(bad.attributes["sluice.outcome"], "dead");

      // The handler's log line, on "stdout" and over OTLP, with the attempt span's ids.
      const line = JSON.parse(lines.find((l) => l.includes('"handler_ran"'))!);
      equal(line.trace_id, traceId);
      equal(line.span_id, good.spanId);
      await otlp.waitFor(() => otlp.logs.some((l) => l.body === "handler_ran"), "the log record");
      const record = otlp.logs.find((l) => l.body === "handler_ran")!;
      equal(record.traceId, traceId);
      equal(record.spanId, good.spanId);
      equal(record.attributes["job_id"], ok!.job.id);
    } finally {
      await w.stop();
      await telemetry.shutdown();
      await otlp.close();
    }
  });
});

Deno.test("a collector that is down: jobs still run, failed exports and dropped spans are counted, the queue stays bounded", async () => {
  await withTestDatabase(async (db) => {
    const registry = new Registry();
    const lines: string[] = [];
    const telemetry = await start(
      `http://127.0.0.1:${freePort()}`,
      registry,
      undefined,
      createLogger({ write: (l) => lines.push(l) }),
    );
    const w = worker(db.sql);
    try {
      await createQueue(db.sql, "traced", {});
      // More spans than the queue holds, all ended before one export could free a place.
      const n = MAX_QUEUE + 500;
      for (let i = 0; i < n; i++) tracer().startSpan("filler").end();
      await enqueueJob(db.sql, { queue: "traced", kind: "ok" });
      await w.start();
      await waitFor(async () => (await states(db.sql)).succeeded === 1, {
        what: "the job to succeed",
      });
      await telemetry.flush();
      const health = Object.fromEntries(telemetry.health().map((h) => [h.signal, h]));
      assert(health.traces!.itemsDropped >= n - MAX_QUEUE, JSON.stringify(health.traces));
      assert(health.traces!.exportsFailed >= 1, JSON.stringify(health.traces));
      equal(health.traces!.itemsExported, 0);
      assert(/ECONNREFUSED|refused|connect/i.test(health.traces!.lastError!.message));
      const dropped = registry.get("sluice_otlp_dropped_items_total");
      assert(
        dropped && dropped.type === "counter" && dropped.get({ signal: "traces" }) >= n - MAX_QUEUE,
      );
    } finally {
      await w.stop();
      await telemetry.shutdown();
    }
  });
});
