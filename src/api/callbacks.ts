/**
 * `POST /v1/callbacks`: an asynchronous handler completes or fails its job
 * (src/delivery/callback_handler.ts). The Standard Webhooks signature is the authentication:
 * app.ts exempts this path from bearer auth, CSRF and JSON pre-parsing, so the handler gets the
 * raw body and checks the signature before anything is parsed. Refused signatures count
 * against the caller's address in the rate limiter, like failed bearer tokens.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  CallbackBody,
  type CallbackResponse,
  handleCallback,
} from "../delivery/callback_handler.ts";
import { clientIp } from "./client_ip.ts";
import { idTokenRefusals } from "../auth/id_token_refusals.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { routeLabel } from "./observe.ts";
import { errorResponses, jsonBodyOf, jsonContent } from "./schemas.ts";
import { context, trace } from "@opentelemetry/api";
import { failSpan, MESSAGING_SYSTEM, tracer } from "../obs/trace.ts";

const SignatureHeaders = z.object({
  "webhook-id": z.string().openapi({ description: "unique message id" }),
  "webhook-timestamp": z.string().openapi({ description: "unix seconds" }),
  "webhook-signature": z.string().openapi({
    description: 'space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>"',
  }),
});

export function callbacksRouter(ctx: ApiContext) {
  const r = newRouter();
  const deps = {
    sql: ctx.sql,
    signingSecrets: ctx.config.signingSecrets,
    toleranceMs: ctx.config.signatureToleranceMs,
    defaults: ctx.defaults,
    log: ctx.log,
    identity: ctx.oidc?.callback
      ? {
        verifier: ctx.oidc.callback,
        mode: ctx.config.callbackOidcMode,
        emails: ctx.config.callbackOidcEmails,
        subjects: ctx.config.callbackOidcSubjects,
      }
      : null,
    idTokenRefusals: ctx.oidc?.callback ? idTokenRefusals(ctx.registry, "callback") : undefined,
  };
  // Documented here, served by the plain handler below: a validating route would parse the
  // body before the signature is checked.
  r.openAPIRegistry.registerPath(createRoute({
    method: "post",
    path: "/callbacks",
    tags: ["delivery"],
    summary: "Complete or fail a running job (a 202 answer, or any asynchronous handler)",
    description: "Signed like deliveries (Standard Webhooks, SLUICE_SIGNING_SECRETS). With " +
      "SLUICE_CALLBACK_OIDC_AUDIENCE, 'Authorization: Bearer <ID token>' proves the caller " +
      "instead (SLUICE_CALLBACK_OIDC_MODE=either) or as well (both); a refused ID token " +
      "answers 401 with its code (TOKEN_EXPIRED, AUDIENCE_MISMATCH, IDENTITY_NOT_ALLOWED, …). " +
      "A replayed eventId answers 409 CALLBACK_REPLAYED, an older attempt or lease 409 " +
      "STALE_LEASE, a bad signature 401 SIGNATURE_INVALID, a timestamp outside " +
      "SLUICE_SIGNATURE_TOLERANCE 401 TIMESTAMP_OUT_OF_TOLERANCE; none of them changes anything.",
    security: [],
    request: { headers: SignatureHeaders, ...jsonBodyOf(CallbackBody) },
    responses: {
      200: jsonContent(
        z.object({ ok: z.literal(true), job: z.record(z.string(), z.unknown()) }),
        "applied",
      ),
      ...errorResponses(404, 409),
    },
  }));
  r.post("/callbacks", async (c) => {
    const body = await c.req.text();
    const res = await settleSpan(() => handleCallback(deps, body, c.req.raw.headers));
    if (res.status === 401) ctx.limiter.hit("ip", clientIp(c, ctx), routeLabel(c));
    return c.json(res.body, res.status as 200);
  });
  return r;
}

/**
 * The callback's span (messaging "settle": it completes or fails the job), inside the request's
 * server span, which continues the `traceparent` the callback carries: the receiver sends back
 * the one its push brought, and the callback lands in the job's trace.
 */
async function settleSpan(
  run: () => Promise<CallbackResponse>,
): Promise<CallbackResponse> {
  const span = tracer().startSpan("settle", {
    attributes: {
      "messaging.system": MESSAGING_SYSTEM,
      "messaging.operation.type": "settle",
      "messaging.operation.name": "callback",
    },
  });
  try {
    const res = await context.with(trace.setSpan(context.active(), span), run);
    if (res.status === 200 && "ok" in res.body) {
      span.setAttribute("messaging.message.id", res.body.job.jobId);
      span.setAttribute("sluice.job.state", res.body.job.state);
    } else if ("error" in res.body) {
      failSpan(span, res.body.error.code, res.body.error.message);
    }
    return res;
  } finally {
    span.end();
  }
}
