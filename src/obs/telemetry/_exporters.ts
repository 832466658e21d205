/**
 * The OTLP/HTTP exporter per signal and protocol, configured from the settings alone (URL,
 * headers, timeout), never from the SDK's own reading of the environment, so what
 * `sluice config check` shows is what is used. SDK side: imported by sdk.ts and verify.ts only.
 */
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import type { LogRecordExporter } from "@opentelemetry/sdk-logs";
import type { PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { OTLPTraceExporter as ProtoTraces } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as JsonTraces } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPMetricExporter as ProtoMetrics } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPMetricExporter as JsonMetrics } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPLogExporter as ProtoLogs } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPLogExporter as JsonLogs } from "@opentelemetry/exporter-logs-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { Resource } from "@opentelemetry/resources";
import { VERSION } from "../../version.ts";
import type { TelemetrySettings } from "./settings.ts";

function config(s: TelemetrySettings, url: string) {
  return { url, headers: s.headers, timeoutMillis: s.exportTimeoutMs };
}

export function traceExporter(s: TelemetrySettings, url: string): SpanExporter {
  return s.protocol === "http/json"
    ? new JsonTraces(config(s, url))
    : new ProtoTraces(config(s, url));
}

export function metricExporter(s: TelemetrySettings, url: string): PushMetricExporter {
  return s.protocol === "http/json"
    ? new JsonMetrics(config(s, url))
    : new ProtoMetrics(config(s, url));
}

export function logExporter(s: TelemetrySettings, url: string): LogRecordExporter {
  return s.protocol === "http/json" ? new JsonLogs(config(s, url)) : new ProtoLogs(config(s, url));
}

/** OTEL_RESOURCE_ATTRIBUTES, then what Sluice sets (service name, version, instance, role). */
export function resourceOf(s: TelemetrySettings, role: string, instanceId: string): Resource {
  return resourceFromAttributes({
    ...s.resourceAttributes,
    "service.name": s.serviceName,
    "service.version": VERSION,
    "service.instance.id": instanceId,
    "sluice.role": role,
  });
}
