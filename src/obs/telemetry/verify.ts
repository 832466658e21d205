/**
 * `sluice verify telemetry`, SDK side: one test span, one metric point and one log record, each
 * sent straight through its signal's exporter (no batching), so the export's own result is the
 * answer: the collector accepted it, refused it (HTTP status) or could not be reached.
 */
import { SeverityNumber } from "@opentelemetry/api";
import { LoggerProvider, type ReadableLogRecord } from "@opentelemetry/sdk-logs";
import { type ReadableSpan, TracerProvider } from "@opentelemetry/sdk-trace";
import { Registry } from "../metrics.ts";
import { logExporter, metricExporter, resourceOf, traceExporter } from "./_exporters.ts";
import { registryProducer } from "./registry_producer.ts";
import type { OtlpSignal, TelemetrySettings } from "./settings.ts";

export interface SignalVerdict {
  signal: OtlpSignal;
  endpoint: string | null;
  ok: boolean;
  detail: string;
}

interface Result {
  code: number;
  error?: Error;
}

type Send = (done: (r: Result) => void) => void;

export async function verifyTelemetry(
  s: TelemetrySettings,
  instanceId: string,
): Promise<{ traceId: string; verdicts: SignalVerdict[] }> {
  const resource = resourceOf(s, "verify", instanceId);
  const stamp = new Date().toISOString();

  // The span and the log record come out of real providers (so they are what a role sends),
  // caught by a processor that hands them over instead of queueing them.
  let span: ReadableSpan | null = null;
  const tracing = new TracerProvider({
    resource,
    spanProcessors: [{
      onStart: () => {},
      onEnd: (x) => (span = x),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    }],
  });
  const test = tracing.getTracer("sluice").startSpan("sluice.verify_telemetry", {
    attributes: { "sluice.verify.at": stamp },
  });
  test.end();
  const traceId = test.spanContext().traceId;

  let record: ReadableLogRecord | null = null;
  const logging = new LoggerProvider({
    resource,
    processors: [{
      onEmit: (x) => (record = x),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    }],
  });
  logging.getLogger("sluice").emit({
    severityNumber: SeverityNumber.INFO,
    severityText: "INFO",
    body: "telemetry_verified",
    attributes: { "sluice.verify.at": stamp, "sluice.verify.trace_id": traceId },
  });

  const registry = new Registry();
  registry.gauge("sluice_verify_telemetry", "1 from each `sluice verify telemetry` run")
    .set({}, 1);
  const { resourceMetrics } = await registryProducer(registry).collect();
  resourceMetrics.resource = resource;

  const sends: Record<OtlpSignal, (url: string) => Send> = {
    traces: (url) => (done) => traceExporter(s, url).export([span!], done),
    metrics: (url) => (done) => metricExporter(s, url).export(resourceMetrics, done),
    logs: (url) => (done) => logExporter(s, url).export([record!], done),
  };
  const verdicts = await Promise.all(
    (Object.keys(sends) as OtlpSignal[]).map(async (signal): Promise<SignalVerdict> => {
      const url = s.endpoints[signal];
      if (url === null) {
        return { signal, endpoint: null, ok: true, detail: "not exported (no endpoint)" };
      }
      const t0 = performance.now();
      const r = await new Promise<Result>((resolve) => sends[signal](url)(resolve));
      const ms = Math.round(performance.now() - t0);
      return r.code === 0
        ? { signal, endpoint: url, ok: true, detail: `accepted in ${ms} ms` }
        : { signal, endpoint: url, ok: false, detail: r.error?.message ?? "export failed" };
    }),
  );
  await Promise.all([tracing.shutdown(), logging.shutdown()]);
  return { traceId, verdicts };
}
