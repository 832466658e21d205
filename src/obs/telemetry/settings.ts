/**
 * The OpenTelemetry exporter settings, from the standard `OTEL_*` variables only (the names every
 * collector's and vendor's documentation uses), so a Grafana Cloud or collector snippet works as
 * pasted:
 * - `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: `/v1/traces`, `/v1/metrics`, `/v1/logs` are
 *   appended. A per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` is used as is and
 *   turns on that signal alone. No endpoint: telemetry is off and no SDK code is loaded.
 * - `OTEL_SDK_DISABLED=true` turns everything off whatever the endpoints say;
 *   `OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none` turns one signal off.
 * - `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, values URL-decoded) carries credentials such as a
 *   Grafana Cloud `Authorization=Basic …`: a secret, never logged or shown.
 */
export type OtlpSignal = "traces" | "metrics" | "logs";
export const SIGNALS: readonly OtlpSignal[] = ["traces", "metrics", "logs"];
export type OtlpProtocol = "http/protobuf" | "http/json";

export interface TelemetrySettings {
  /** Full export URL per signal; null = that signal is not exported. */
  endpoints: Record<OtlpSignal, string | null>;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  /** OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000). */
  metricIntervalMs: number;
  /** OTEL_EXPORTER_OTLP_TIMEOUT (ms, default 10000): one export request's limit. */
  exportTimeoutMs: number;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The standard variables this module reads (config check lists them). */
export const OTEL_VARS = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TIMEOUT",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_SDK_DISABLED",
  "OTEL_METRIC_EXPORT_INTERVAL",
  "OTEL_TRACES_EXPORTER",
  "OTEL_METRICS_EXPORTER",
  "OTEL_LOGS_EXPORTER",
] as const;

const BASE_PATH: Record<OtlpSignal, string> = {
  traces: "v1/traces",
  metrics: "v1/metrics",
  logs: "v1/logs",
};

/** Throws TypeError with a one-line reason; the config layer turns it into a problem. */
export function telemetrySettings(env: Env, role: string): TelemetrySettings {
  const val = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const disabled = bool(val("OTEL_SDK_DISABLED"), "OTEL_SDK_DISABLED");
  const base = val("OTEL_EXPORTER_OTLP_ENDPOINT");
  const endpoints = {} as Record<OtlpSignal, string | null>;
  for (const s of SIGNALS) {
    const upper = s.toUpperCase();
    const own = val(`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`);
    const exporter = val(`OTEL_${upper}_EXPORTER`);
    if (exporter !== undefined && exporter !== "otlp" && exporter !== "none") {
      throw new TypeError(
        `OTEL_${upper}_EXPORTER must be "otlp" or "none" (other exporters are not built in)`,
      );
    }
    const url = own ?? (base ? joinPath(base, BASE_PATH[s]) : null);
    if (url !== null) {
      checkUrl(url, own ? `OTEL_EXPORTER_OTLP_${upper}_ENDPOINT` : "OTEL_EXPORTER_OTLP_ENDPOINT");
    }
    endpoints[s] = disabled || exporter === "none" ? null : url;
  }
  const protocol = val("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    throw new TypeError(
      `OTEL_EXPORTER_OTLP_PROTOCOL must be "http/protobuf" or "http/json" (grpc is not built in), not "${protocol}"`,
    );
  }
  return {
    endpoints,
    protocol,
    headers: pairs(val("OTEL_EXPORTER_OTLP_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS", true),
    serviceName: val("OTEL_SERVICE_NAME") ?? `sluice-${role}`,
    resourceAttributes: pairs(val("OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES", false),
    metricIntervalMs: millis(
      val("OTEL_METRIC_EXPORT_INTERVAL"),
      "OTEL_METRIC_EXPORT_INTERVAL",
      60_000,
    ),
    exportTimeoutMs: millis(
      val("OTEL_EXPORTER_OTLP_TIMEOUT"),
      "OTEL_EXPORTER_OTLP_TIMEOUT",
      10_000,
    ),
  };
}

export function anySignal(s: TelemetrySettings): boolean {
  return SIGNALS.some((k) => s.endpoints[k] !== null);
}

function joinPath(base: string, path: string): string {
  return base.endsWith("/") ? base + path : `${base}/${path}`;
}

function checkUrl(url: string, name: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`${name} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`${name} must be an http:// or https:// URL (OTLP over HTTP)`);
  }
}

function bool(raw: string | undefined, name: string): boolean {
  if (raw === undefined) return false;
  const v = raw.toLowerCase();
  if (v === "true") return true;
  if (v === "false") return false;
  throw new TypeError(`${name} must be "true" or "false"`);
}

function millis(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 86_400_000) {
    throw new TypeError(`${name} must be a whole number of milliseconds from 1 to 86400000`);
  }
  return n;
}

/** `k=v,k2=v2` (W3C baggage-like, values percent-decoded), as both variables are specified. */
function pairs(raw: string | undefined, name: string, secret: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const key = eq > 0 ? part.slice(0, eq).trim() : "";
    if (!key) {
      // The value is not quoted for headers: it may hold a credential.
      throw new TypeError(
        `${name} must be a list of key=value pairs${secret ? "" : `, not "${part}"`}`,
      );
    }
    try {
      out[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new TypeError(`${name}: the value of "${key}" is not valid percent-encoding`);
    }
  }
  return out;
}
