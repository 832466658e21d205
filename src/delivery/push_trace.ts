/**
 * The push request's span (kind CLIENT, HTTP client semantic conventions), a child of the attempt
 * span, and the `traceparent`/`tracestate` it sends, so the receiver's own spans, and the
 * callback it sends back with that `traceparent`, stay in the job's trace. Created only inside a
 * recording attempt span: with telemetry off there is nothing to look up but the no-op context.
 */
import { context, type Span, SpanKind, trace } from "@opentelemetry/api";
import { carrierOf, tracer } from "../obs/trace.ts";

export function startPushSpan(url: URL, headers: Headers): Span | null {
  const parent = trace.getActiveSpan();
  if (!parent?.isRecording()) return null;
  const span = tracer().startSpan("POST", {
    kind: SpanKind.CLIENT,
    attributes: {
      "http.request.method": "POST",
      // Origin and path only: userinfo and query values may carry credentials.
      "url.full": `${url.origin}${url.pathname}`,
      "server.address": url.hostname,
      "server.port": Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    },
  });
  const carrier = carrierOf(trace.setSpan(context.active(), span));
  for (const [k, v] of Object.entries(carrier ?? {})) headers.set(k, v);
  return span;
}
