/**
 * A server span per HTTP request (HTTP semantic conventions: `http.route` is the route PATTERN,
 * as in the metrics), continuing the caller's `traceparent` when it sends one: an enqueue joins
 * the producer's trace, a callback joins the trace of the push it answers. Registered before the
 * access log so `http_request` lines carry the span's ids. Installed only with telemetry on.
 */
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { MiddlewareHandler } from "hono";
import { contextFrom, tracer } from "../obs/trace.ts";
import type { Env } from "./env.ts";
import { routeLabel } from "./observe.ts";

export function traceRequests(): MiddlewareHandler<Env> {
  return async function traceRequests(c, next) {
    const parent = contextFrom(c.req.raw.headers);
    const url = new URL(c.req.url);
    const span = tracer().startSpan(c.req.method, {
      kind: SpanKind.SERVER,
      attributes: {
        "http.request.method": c.req.method,
        "url.path": url.pathname,
        "url.scheme": url.protocol.replace(":", ""),
      },
    }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = routeLabel(c);
      const status = c.res.status;
      span.updateName(`${c.req.method} ${route}`);
      span.setAttribute("http.route", route);
      span.setAttribute("http.response.status_code", status);
      // Server spans are errors for 5xx only: a 4xx is the caller's mistake, answered correctly.
      if (status >= 500) {
        span.setAttribute("error.type", String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
  };
}
