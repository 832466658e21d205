/**
 * OpenTelemetry export (src/obs/telemetry/): the standard `OTEL_*` names every collector's and
 * vendor's documentation uses, so a Grafana Cloud or collector snippet works as pasted. Setting
 * an endpoint is what turns export on; unset, nothing of the SDK is loaded.
 */
import { bool, int, invalid, oneOf, quote } from "../parse.ts";
import { v } from "../spec.ts";

export type OtlpProtocol = "http/protobuf" | "http/json";
export type SignalExporter = "otlp" | "none";

function otlpUrl(raw: string): string {
  const text = raw.trim();
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return invalid(`${quote(raw)} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    invalid(
      `${quote(raw)} must be an http:// or https:// URL (OTLP over HTTP; grpc is not built in)`,
    );
  }
  return text;
}

/**
 * `k=v,k2=v2` with percent-encoded values, as both variables are specified. A malformed part of
 * the headers is not quoted back: it may hold a credential.
 */
function pairs(secret: boolean) {
  return (raw: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const part of raw.split(",")) {
      if (part.trim() === "") continue;
      const eq = part.indexOf("=");
      const key = eq > 0 ? part.slice(0, eq).trim() : "";
      if (!key) invalid(`must be a list of key=value pairs${secret ? "" : `, not ${quote(part)}`}`);
      try {
        out[key] = decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        invalid(`the value of ${quote(key)} is not valid percent-encoding`);
      }
    }
    return out;
  };
}

const showPairs = (p: Record<string, string>) =>
  Object.entries(p).map(([k, x]) => `${k}=${x}`).join(",") || "(none)";

const endpoint = (signal: string) =>
  v({
    name: `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`,
    default: null,
    parse: otlpUrl,
    nullLabel: "(from OTEL_EXPORTER_OTLP_ENDPOINT)",
    description:
      `Full OTLP/HTTP URL for ${signal} alone (used as is); turns ${signal} export on by itself`,
  });

const exporter = (signal: string) =>
  v({
    name: `OTEL_${signal.toUpperCase()}_EXPORTER`,
    default: "otlp",
    parse: oneOf<SignalExporter>(["otlp", "none"]),
    description: `otlp or none (${signal} not exported even with an endpoint); default otlp`,
  });

export const TELEMETRY_VARS = {
  otelEndpoint: v({
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    default: null,
    parse: otlpUrl,
    nullLabel: "(unset: telemetry off)",
    description:
      "OTLP/HTTP base URL (e.g. http://collector:4318); /v1/traces, /v1/metrics, /v1/logs are appended; setting it turns export on in every role; unset = off, nothing loaded",
  }),
  otelTracesEndpoint: endpoint("traces"),
  otelMetricsEndpoint: endpoint("metrics"),
  otelLogsEndpoint: endpoint("logs"),
  otelProtocol: v({
    name: "OTEL_EXPORTER_OTLP_PROTOCOL",
    default: "http/protobuf",
    parse: oneOf<OtlpProtocol>(["http/protobuf", "http/json"]),
    description: "http/protobuf or http/json; default http/protobuf (grpc is not built in)",
  }),
  otelHeaders: v({
    name: "OTEL_EXPORTER_OTLP_HEADERS",
    default: null,
    secret: true,
    parse: pairs(true),
    redact: (h) => `<redacted, ${Object.keys(h).length} header(s): ${Object.keys(h).join(",")}>`,
    nullLabel: "(none)",
    description:
      "Headers on every export, k=v,k2=v2 with percent-encoded values (e.g. authorization=Basic%20…); never logged or shown",
  }),
  otelExportTimeoutMs: v({
    name: "OTEL_EXPORTER_OTLP_TIMEOUT",
    default: "10000",
    parse: int({ min: 1, max: 600_000 }),
    description: "Milliseconds one export request may take (retries included); default 10000",
  }),
  otelServiceName: v({
    name: "OTEL_SERVICE_NAME",
    default: null,
    parse: (raw) => raw.trim(),
    nullLabel: "sluice-<role>",
    description: "service.name of every span, metric and log record; default sluice-<role>",
  }),
  otelResourceAttributes: v({
    name: "OTEL_RESOURCE_ATTRIBUTES",
    default: null,
    parse: pairs(false),
    show: showPairs,
    nullLabel: "(none)",
    description: "Extra resource attributes, k=v,k2=v2 (e.g. deployment.environment=prod)",
  }),
  otelSdkDisabled: v({
    name: "OTEL_SDK_DISABLED",
    default: "false",
    parse: bool,
    description: "true turns all export off whatever the endpoints say; default false",
  }),
  otelMetricIntervalMs: v({
    name: "OTEL_METRIC_EXPORT_INTERVAL",
    default: "60000",
    parse: int({ min: 100, max: 86_400_000 }),
    description: "Milliseconds between metric exports (the /metrics/prom series); default 60000",
  }),
  otelTracesExporter: exporter("traces"),
  otelMetricsExporter: exporter("metrics"),
  otelLogsExporter: exporter("logs"),
};
