/**
 * The OpenTelemetry SDK, wired for one role. Only `startTelemetry()` (mod.ts) imports this file,
 * and only when an OTLP endpoint is set, so with telemetry off none of the SDK is loaded and
 * `@opentelemetry/api` stays its own no-op.
 *
 * Why the npm SDK and not Deno's built-in OpenTelemetry (measured 2026-12 on this 2-core machine,
 * `deno 2.9.6`, 200,000 spans with three attributes each, one process per figure):
 * - the built-in exporter is switched on only by `OTEL_DENO=true` in the environment at process
 *   start. Setting it from inside (`Deno.env.set` before the first span) leaves the API a no-op
 *   proxy and exports nothing, so "the endpoint alone turns export on" would need a re-exec of the
 *   process (a second pid for systemd and signals) or a flag the operator must know;
 * - built-in: 238,969 spans/s to a live collector, 269,039 to a dead one; this SDK: 154,563 and
 *   118,304; the no-op API (telemetry off): 5,533,433. The built-in one is faster per span, but
 *   the worker's cost is dominated by what both share (two spans, a context per attempt): with
 *   the SDK, bench/telemetry.ts (10,000 sluice.noop at concurrency 50, medians of 3 rotated
 *   rounds, a heavily loaded machine) ran off 3,614 jobs/s, live collector 2,073, dead 2,785,
 *   never-answering 3,024; off is the default and loads nothing;
 * - the SDK gives what the built-in one does not expose: per-export results for the exporter
 *   health series, a bounded queue whose drops are counted, and the metrics producer that sends
 *   the registry's own series.
 */
import { context, propagation, trace } from "@opentelemetry/api";
import { logs } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from "@opentelemetry/sdk-logs";
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import { logExporter, metricExporter, resourceOf, traceExporter } from "./_exporters.ts";
import type { Registry } from "../metrics.ts";
import { VERSION } from "../../version.ts";
import type { ExportHealth } from "./health.ts";
import { registryProducer } from "./registry_producer.ts";
import type { OtlpSignal, TelemetrySettings } from "./settings.ts";
import { logSeverity, type SdkHandle } from "./_handle.ts";

/** Spans or log records waiting for export, counting the batch in flight; beyond it they drop. */
export const MAX_QUEUE = 2048;
const BATCH = 512;
const BATCH_DELAY_MS = 1000;

interface ExportResult {
  code: number;
  error?: Error;
}
interface Exporter<B> {
  export(batch: B, done: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * Counts what goes through an exporter (the health series) and bounds what waits for it: the
 * batch processors queue without telling anyone what they drop, so the count of pending items
 * (queued plus in flight) is kept here and an item beyond MAX_QUEUE is dropped and counted
 * before it reaches them. A collector that is down therefore costs a counter increment per item.
 */
class Gate {
  pending = 0;
  constructor(readonly signal: OtlpSignal, readonly health: ExportHealth) {}

  admit(): boolean {
    if (this.pending >= MAX_QUEUE) {
      this.health.dropped(this.signal);
      return false;
    }
    this.pending++;
    return true;
  }

  /** `count`: items in one batch; `queued`: whether they went through admit(). */
  wrap<B, E extends Exporter<B>>(inner: E, count: (batch: B) => number, queued: boolean): E {
    const { health, signal } = this;
    const release = (n: number) => (this.pending = Math.max(0, this.pending - n));
    const wrapped: Exporter<B> = {
      export(batch, done) {
        const n = count(batch);
        health.attempted(signal);
        inner.export(batch, (r) => {
          if (queued) release(n);
          if (r.code === 0) health.succeeded(signal, n);
          else health.failed(signal, r.error ?? new Error("export failed"));
          done(r);
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    };
    return Object.assign(Object.create(inner), wrapped) as E;
  }
}

const length = (items: unknown[]) => items.length;

/** Data points in one metrics export. */
function dataPoints(m: ResourceMetrics): number {
  return m.scopeMetrics.reduce(
    (n, s) => n + s.metrics.reduce((k, x) => k + x.dataPoints.length, 0),
    0,
  );
}

function gatedSpans(inner: SpanProcessor, gate: Gate): SpanProcessor {
  return {
    onStart: (span, ctx) => inner.onStart(span, ctx),
    onEnd(span) {
      // Unsampled spans never reach the exporter, so they must not hold a place in the queue.
      if ((span.spanContext().traceFlags & 1) === 0 || !gate.admit()) return;
      inner.onEnd(span);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
}

export interface StartSdkOptions {
  settings: TelemetrySettings;
  role: string;
  registry: Registry;
  health: ExportHealth;
  instanceId: string;
}

export function startSdk(o: StartSdkOptions): SdkHandle {
  const { settings: s, health } = o;
  const resource = resourceOf(s, o.role, o.instanceId);
  const stops: (() => Promise<void>)[] = [];
  const flushes: (() => Promise<void>)[] = [];

  // Registered even without a traces endpoint: log lines still carry the ids of spans that
  // arrive with a traceparent, and push requests pass it on.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  registered("context manager", context.setGlobalContextManager(contextManager));
  registered("propagator", propagation.setGlobalPropagator(new W3CTraceContextPropagator()));
  stops.push(() => {
    context.disable();
    propagation.disable();
    return Promise.resolve();
  });

  if (s.endpoints.traces) {
    const gate = new Gate("traces", health);
    const url = s.endpoints.traces;
    const exporter = gate.wrap<ReadableSpan[], SpanExporter>(
      traceExporter(s, url),
      length,
      true,
    );
    const processor = new BatchSpanProcessor({
      exporter,
      maxQueueSize: MAX_QUEUE,
      maxExportBatchSize: BATCH,
      scheduledDelayMillis: BATCH_DELAY_MS,
      exportTimeoutMillis: s.exportTimeoutMs,
    });
    const provider = new TracerProvider({
      resource,
      spanProcessors: [gatedSpans(processor, gate)],
    });
    registered("tracer provider", trace.setGlobalTracerProvider(provider));
    flushes.push(() => provider.forceFlush());
    // The global goes whatever the shutdown does (a stuck collector makes it time out), or the
    // next registration in this process would be refused and spans would go to this one.
    stops.push(() => provider.shutdown().finally(() => trace.disable()));
  }

  let emitLog: SdkHandle["emitLog"] = null;
  if (s.endpoints.logs) {
    const gate = new Gate("logs", health);
    const url = s.endpoints.logs;
    const exporter = gate.wrap<ReadableLogRecord[], LogRecordExporter>(
      logExporter(s, url),
      length,
      true,
    );
    const provider = new LoggerProvider({
      resource,
      processors: [
        new BatchLogRecordProcessor({
          exporter,
          maxQueueSize: MAX_QUEUE,
          maxExportBatchSize: BATCH,
          scheduledDelayMillis: BATCH_DELAY_MS,
          exportTimeoutMillis: s.exportTimeoutMs,
        }),
      ],
    });
    registered("logger provider", logs.setGlobalLoggerProvider(provider));
    const logger = provider.getLogger("sluice", VERSION);
    emitLog = (level, entry) => {
      if (!gate.admit()) return;
      const { ts: _ts, level: _level, msg, ...attributes } = entry;
      logger.emit({
        severityNumber: logSeverity(level),
        severityText: level.toUpperCase(),
        body: String(msg),
        attributes: flatAttributes(attributes),
        context: context.active(),
      });
    };
    flushes.push(() => provider.forceFlush());
    stops.push(() => provider.shutdown().finally(() => logs.disable()));
  }

  if (s.endpoints.metrics) {
    const gate = new Gate("metrics", health);
    const url = s.endpoints.metrics;
    const exporter = gate.wrap<ResourceMetrics, PushMetricExporter>(
      metricExporter(s, url),
      dataPoints,
      false,
    );
    const reader = new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: s.metricIntervalMs,
      exportTimeoutMillis: Math.min(s.exportTimeoutMs, s.metricIntervalMs),
      metricProducers: [registryProducer(o.registry)],
    });
    const provider = new MeterProvider({ resource, readers: [reader] });
    flushes.push(() => provider.forceFlush());
    stops.push(() => provider.shutdown());
  }

  return {
    emitLog,
    flush: async () => {
      await Promise.all(flushes.map((f) => f().catch(() => {})));
    },
    shutdown: async () => {
      // Last in, first out: providers flush before the context manager goes.
      for (const stop of stops.reverse()) await stop().catch(() => {});
    },
  };
}

/**
 * The API keeps the first global of each kind and refuses the rest: a second telemetry in one
 * process (a bug, or a test that did not shut the first down) must fail loudly, not export
 * through the old one.
 */
function registered(what: string, ok: boolean): void {
  if (!ok) throw new Error(`OpenTelemetry ${what} already registered in this process`);
}

/** Log fields as OTLP attributes: scalars as they are, objects as JSON text. */
function flatAttributes(
  fields: Record<string, unknown>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === null || v === undefined) continue;
    out[k] = typeof v === "string" || typeof v === "number" || typeof v === "boolean"
      ? v
      : JSON.stringify(v);
  }
  return out;
}
