/**
 * What the exporters need, from the validated `OTEL_*` configuration
 * (src/config/vars/telemetry.ts):
 * - `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: `/v1/traces`, `/v1/metrics`, `/v1/logs` are
 *   appended. A per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` is used as is and
 *   turns on that signal alone. No endpoint: that signal is off.
 * - `OTEL_SDK_DISABLED=true` turns everything off; `OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none`
 *   one signal.
 */
import type { OtlpProtocol } from "../../config/vars/telemetry.ts";
import type { Config } from "../../config/vars.ts";

export type OtlpSignal = "traces" | "metrics" | "logs";
export const SIGNALS: readonly OtlpSignal[] = ["traces", "metrics", "logs"];
export type { OtlpProtocol };

export interface TelemetrySettings {
  /** Full export URL per signal; null = that signal is not exported. */
  endpoints: Record<OtlpSignal, string | null>;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  metricIntervalMs: number;
  /** One export request's limit, retries included. */
  exportTimeoutMs: number;
}

export type TelemetryConfig = Pick<
  Config,
  | "otelEndpoint"
  | "otelTracesEndpoint"
  | "otelMetricsEndpoint"
  | "otelLogsEndpoint"
  | "otelProtocol"
  | "otelHeaders"
  | "otelExportTimeoutMs"
  | "otelServiceName"
  | "otelResourceAttributes"
  | "otelSdkDisabled"
  | "otelMetricIntervalMs"
  | "otelTracesExporter"
  | "otelMetricsExporter"
  | "otelLogsExporter"
>;

export function telemetrySettings(c: TelemetryConfig, role: string): TelemetrySettings {
  const base = c.otelEndpoint;
  const join = (path: string) =>
    base === null ? null : base.endsWith("/") ? base + path : `${base}/${path}`;
  const on = (own: string | null, path: string, exporter: string) =>
    c.otelSdkDisabled || exporter === "none" ? null : own ?? join(path);
  return {
    endpoints: {
      traces: on(c.otelTracesEndpoint, "v1/traces", c.otelTracesExporter),
      metrics: on(c.otelMetricsEndpoint, "v1/metrics", c.otelMetricsExporter),
      logs: on(c.otelLogsEndpoint, "v1/logs", c.otelLogsExporter),
    },
    protocol: c.otelProtocol,
    headers: c.otelHeaders ?? {},
    serviceName: c.otelServiceName || `sluice-${role}`,
    resourceAttributes: c.otelResourceAttributes ?? {},
    metricIntervalMs: c.otelMetricIntervalMs,
    exportTimeoutMs: c.otelExportTimeoutMs,
  };
}

export function anySignal(s: TelemetrySettings): boolean {
  return SIGNALS.some((k) => s.endpoints[k] !== null);
}
