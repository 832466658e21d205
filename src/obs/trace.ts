/**
 * Trace helpers over the global `@opentelemetry/api` (no-op until sdk.ts registers a provider):
 * W3C trace context in and out of carriers (HTTP headers, the job's `trace_context` column) and
 * the ids a log line carries. Names and attributes follow the OpenTelemetry semantic
 * conventions (messaging: `messaging.system` = `sluice`, `messaging.destination.name` = queue,
 * `messaging.message.id` = job id).
 */
import {
  type Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { VERSION } from "../version.ts";

export const MESSAGING_SYSTEM = "sluice";

/** The W3C headers a job stores and a push carries: `traceparent`, maybe `tracestate`. */
export type TraceCarrier = Record<string, string>;

/** Looked up per use, not cached: tests (and verify) register and drop providers in one process. */
export function tracer(): Tracer {
  return trace.getTracer("sluice", VERSION);
}

/** The active span's ids for a log line; null outside a (valid) span. */
export function logIds(): { traceId: string; spanId: string } | null {
  const span = trace.getActiveSpan();
  if (!span) return null;
  const c = span.spanContext();
  return isSpanContextValid(c) ? { traceId: c.traceId, spanId: c.spanId } : null;
}

/** `ctx` (default: the active context) as W3C headers; null when it holds no span. */
export function carrierOf(ctx: Context = context.active()): TraceCarrier | null {
  const out: TraceCarrier = {};
  propagation.inject(ctx, out);
  return out.traceparent ? out : null;
}

/** A context from W3C headers (a request's, or a stored job's); the root context without. */
export function contextFrom(carrier: TraceCarrier | Headers | null | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  if (carrier instanceof Headers) {
    const traceparent = carrier.get("traceparent");
    if (!traceparent) return ROOT_CONTEXT;
    const tracestate = carrier.get("tracestate");
    carrier = tracestate ? { traceparent, tracestate } : { traceparent };
  }
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** Adds the active context's `traceparent`/`tracestate` to outgoing headers. */
export function injectInto(headers: Headers | Record<string, string>): void {
  const carrier = carrierOf();
  if (!carrier) return;
  for (const [k, v] of Object.entries(carrier)) {
    if (headers instanceof Headers) headers.set(k, v);
    else headers[k] = v;
  }
}

/** Marks a span failed with an error code (the `error.type` attribute) and message. */
export function failSpan(span: Span, code: string, message?: string): void {
  span.setAttribute("error.type", code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? code });
}
