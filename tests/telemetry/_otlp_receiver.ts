/**
 * A small OTLP/HTTP collector for tests, on 127.0.0.1: takes `/v1/traces`, `/v1/metrics` and
 * `/v1/logs` in both protocols (`application/x-protobuf`, decoded with protobufjs and the OTLP
 * schema in _otlp_protos.ts; `application/json`), and records what arrives in one normalized
 * form (ids as hex, attributes as plain values). `answer` makes it refuse (a collector that
 * says 503); `waitFor` resolves when an arriving request makes the predicate true.
 */
import protobuf from "protobufjs";
import { OTLP_DESCRIPTOR } from "./_otlp_protos.ts";

const root = protobuf.Root.fromJSON(OTLP_DESCRIPTOR);
const TYPES = {
  "/v1/traces": root.lookupType("otlp.ExportTraceServiceRequest"),
  "/v1/metrics": root.lookupType("otlp.ExportMetricsServiceRequest"),
  "/v1/logs": root.lookupType("otlp.ExportLogsServiceRequest"),
} as const;

type Attrs = Record<string, unknown>;
// deno-lint-ignore no-explicit-any
type Any = any;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Attrs;
  links: { traceId: string; spanId: string }[];
  status: { code: number; message: string };
  resource: Attrs;
}

export interface ReceivedLog {
  traceId: string;
  spanId: string;
  body: unknown;
  severityText: string;
  severityNumber: number;
  attributes: Attrs;
  resource: Attrs;
}

export interface ReceivedMetric {
  name: string;
  type: "sum" | "gauge" | "histogram";
  points: { attributes: Attrs; value: number | null; count: number | null }[];
  resource: Attrs;
}

export interface ReceivedRequest {
  path: string;
  contentType: string;
  headers: Headers;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly logs: ReceivedLog[] = [];
  readonly metrics: ReceivedMetric[] = [];
  readonly requests: ReceivedRequest[] = [];
  /** Status to answer with (200 accepts). */
  answer = 200;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #waiters = new Set<() => void>();

  constructor(port = 0) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Resolves once `pred()` holds, checked after every request; rejects after `ms`. */
  waitFor(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname as keyof typeof TYPES;
    const contentType = req.headers.get("content-type") ?? "";
    const bytes = new Uint8Array(await req.arrayBuffer());
    this.requests.push({ path, contentType, headers: req.headers });
    try {
      if (this.answer !== 200) return new Response("refused", { status: this.answer });
      const type = TYPES[path];
      if (!type) return new Response("unknown path", { status: 404 });
      const proto = contentType.startsWith("application/x-protobuf");
      const body: Any = proto
        ? type.toObject(type.decode(bytes), { longs: String, bytes: String, defaults: false })
        : JSON.parse(new TextDecoder().decode(bytes));
      this.#record(path, body, proto);
      return Response.json({}, { headers: { "content-type": contentType } });
    } finally {
      for (const w of [...this.#waiters]) w();
    }
  }

  #record(path: string, body: Any, proto: boolean) {
    const id = (v: unknown) => (typeof v === "string" && v !== "" ? (proto ? b64hex(v) : v) : "");
    if (path === "/v1/traces") {
      for (const rs of body.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            this.spans.push({
              traceId: id(s.traceId),
              spanId: id(s.spanId),
              parentSpanId: id(s.parentSpanId),
              name: s.name,
              kind: Number(s.kind ?? 0),
              attributes: attrs(s.attributes),
              links: (s.links ?? []).map((l: Any) => ({
                traceId: id(l.traceId),
                spanId: id(l.spanId),
              })),
              status: { code: Number(s.status?.code ?? 0), message: s.status?.message ?? "" },
              resource,
            });
          }
        }
      }
    } else if (path === "/v1/logs") {
      for (const rl of body.resourceLogs ?? []) {
        const resource = attrs(rl.resource?.attributes);
        for (const sl of rl.scopeLogs ?? []) {
          for (const r of sl.logRecords ?? []) {
            this.logs.push({
              traceId: id(r.traceId),
              spanId: id(r.spanId),
              body: value(r.body),
              severityText: r.severityText ?? "",
              severityNumber: Number(r.severityNumber ?? 0),
              attributes: attrs(r.attributes),
              resource,
            });
          }
        }
      }
    } else {
      for (const rm of body.resourceMetrics ?? []) {
        const resource = attrs(rm.resource?.attributes);
        for (const sm of rm.scopeMetrics ?? []) {
          for (const m of sm.metrics ?? []) {
            const type = m.sum ? "sum" : m.gauge ? "gauge" : "histogram";
            const points = (m[type]?.dataPoints ?? []).map((p: Any) => ({
              attributes: attrs(p.attributes),
              value: p.asDouble !== undefined
                ? Number(p.asDouble)
                : p.asInt !== undefined
                ? Number(p.asInt)
                : p.sum !== undefined
                ? Number(p.sum)
                : null,
              count: p.count !== undefined ? Number(p.count) : null,
            }));
            this.metrics.push({ name: m.name, type, points, resource });
          }
        }
      }
    }
  }
}

function b64hex(b64: string): string {
  const bin = atob(b64);
  let out = "";
  for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, "0");
  return out;
}

function value(v: Any): unknown {
  if (!v) return null;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("arrayValue" in v) return (v.arrayValue.values ?? []).map(value);
  if ("kvlistValue" in v) return attrs(v.kvlistValue.values);
  return null;
}

function attrs(list: Any[] | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of list ?? []) out[kv.key] = value(kv.value);
  return out;
}
