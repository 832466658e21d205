/**
 * The HTTP API: `createApp(deps)` builds a Hono app from its dependencies (no globals).
 *
 * To add an area: write `src/api/<area>.ts` exporting `<area>Router(ctx)` built with
 * `newRouter()` (routes relative to `/v1`, guarded by `requireScope(...)`), import it here and
 * append it to `ROUTERS`. Errors: throw `SluiceError`; the one `onError` answers them.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { timeout } from "hono/timeout";
import { httpStatusOf } from "../errors.ts";
import { Admission } from "../queue/admission.ts";
import { Engine } from "../queue/engine.ts";
import { recordDecision } from "../queue/decisions.ts";
import { Registry } from "../obs/metrics.ts";
import { VERSION } from "../version.ts";
import { jsonBody, limitBody } from "./_body.ts";
import { authenticate, verifyPresented } from "./auth.ts";
import { TokenAuthenticator } from "./token_cache.ts";
import { IdTokenAuthenticator } from "./id_token_auth.ts";
import { oidcVerifiers } from "../auth/oidc_setup.ts";
import { identitiesRouter } from "./identities.ts";
import { wellKnownRouter } from "./well_known.ts";
import { AuthFailureLimiter } from "./auth_failures.ts";
import { clientIp } from "./client_ip.ts";
import { decisionsRouter } from "./decisions.ts";
import type { ApiContext, ApiDeps, Env } from "./deps.ts";
import { dlqRouter } from "./dlq.ts";
import { notFoundHandler, onErrorHandler, toSluiceError, validationHook } from "./errors.ts";
import { documentHealthRoutes, healthRouter } from "./health.ts";
import { jobsRouter } from "./jobs.ts";
import { pullRouter } from "./pull.ts";
import { queuesRouter } from "./queues.ts";
import { RateLimiter } from "./rate_limit.ts";
import { schedulesRouter } from "./schedules.ts";
import { opsRouter } from "./ops.ts";
import { historyRouter } from "./history.ts";
import { circuitsRouter } from "./circuits.ts";
import { callbacksRouter } from "./callbacks.ts";
import { metricsRouter } from "./metrics.ts";
import { apiMetrics, observeRequests, routeLabel } from "./observe.ts";
import { createSessionManager, documentSessionRoutes, sessionRouter } from "./session.ts";
import { opsPageRouter } from "./static.ts";
import { traceRequests } from "./trace_requests.ts";
import { statusService } from "./status.ts";
import { statsRouter } from "./stats.ts";
import { topicsRouter } from "./topics.ts";
import { tokensRouter } from "./tokens.ts";
import { workersRouter } from "./workers.ts";
import { workflowsRouter } from "./workflows.ts";
import { batchesRouter } from "./batches.ts";

/** Routers mounted under `/v1`, behind bearer authentication. */
const ROUTERS: ((ctx: ApiContext) => OpenAPIHono<Env>)[] = [
  jobsRouter,
  queuesRouter,
  dlqRouter,
  decisionsRouter,
  workersRouter,
  pullRouter,
  statsRouter,
  opsRouter,
  historyRouter,
  schedulesRouter,
  circuitsRouter,
  topicsRouter,
  identitiesRouter,
  workflowsRouter,
  batchesRouter,
  tokensRouter,
];

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;
const ENQUEUE_PATHS = new Set(["/v1/jobs", "/v1/jobs/batch"]);
/** A publish enqueues too: its refusals are decisions like any enqueue's. */
const isEnqueuePath = (path: string) =>
  ENQUEUE_PATHS.has(path) || /^\/v1\/topics\/[^/]+\/publish$/.test(path);
/** Public without a token: the schema describes the API and holds no data. */
const PUBLIC_V1 = new Set(["/v1/openapi.json", "/v1/session"]);
/**
 * Authenticated by their signature, not by a bearer token or cookie: no bearer auth, no CSRF
 * check (no ambient credential to forge), and the raw body reaches the handler unparsed so the
 * signature is checked before anything reads it.
 */
const SIGNED_V1 = new Set(["/v1/callbacks"]);

/** Builds the per-app services (token cache, rate limiter, admission caches) from the deps. */
export function createApiContext(deps: ApiDeps): ApiContext {
  const auth = new TokenAuthenticator(deps.sql, deps.log, { cacheMs: deps.tokenCacheMs });
  const limiter = new RateLimiter(deps.config.apiRateLimitPerMinute, deps.log);
  const authFailures = new AuthFailureLimiter(deps.log);
  const registry = deps.registry ?? new Registry();
  const oidc = oidcVerifiers(deps.config, deps.log, { registry, ...deps.jwksOptions });
  const idTokens = oidc?.api
    ? new IdTokenAuthenticator({
      sql: deps.sql,
      log: deps.log,
      verifier: oidc.api,
      registry,
      cacheMs: deps.tokenCacheMs,
    })
    : null;
  const ctx: ApiContext = {
    ...deps,
    auth,
    idTokens,
    oidc,
    limiter,
    authFailures,
    registry,
    ...apiMetrics({ sql: deps.sql, registry, limiter, authFailures, cacheMs: deps.gaugesCacheMs }),
    admission: new Admission(deps.sql),
    engine: deps.engine ?? new Engine(deps.sql, { defaults: deps.defaults }),
    status: statusService(deps),
    sessions: createSessionManager({
      sql: deps.sql,
      secret: deps.config.sessionSecret,
      // The sign-in form is a credential like a bearer token: same failed-auth limiter.
      verifySecret: (secret, c) => verifyPresented(ctx, c, secret, "invalid_sign_in"),
      onFailedSignIn: (c) => limiter.hit("ip", clientIp(c, deps), routeLabel(c)),
    }),
  };
  return ctx;
}

export function createApp(deps: ApiDeps | ApiContext): OpenAPIHono<Env> {
  const ctx = "auth" in deps ? deps : createApiContext(deps);
  const app = new OpenAPIHono<Env>({ defaultHook: validationHook });

  app.use("*", requestId());
  // Hono's default is SAMEORIGIN, and it overwrites what a handler set: DENY here is what every
  // response carries (the ops page's CSP says `frame-ancestors 'none'` too; nothing is framed).
  app.use("*", secureHeaders({ xFrameOptions: "DENY" }));
  if (ctx.telemetry?.enabled) app.use("*", traceRequests());
  app.use("*", observeRequests(ctx));
  app.use(
    "*",
    timeout(ctx.config.apiRequestTimeoutMs, () => new HTTPException(504, { message: "timeout" })),
  );
  const auth = authenticate(ctx);
  const open = (path: string) => PUBLIC_V1.has(path) || SIGNED_V1.has(path);
  app.use("/v1/*", (c, next) => (open(c.req.path) ? next() : auth(c, next)));
  app.use("/v1/*", recordDenials(ctx));
  // CSRF matters only for ambient credentials (the ops page's session cookie, later): a request
  // carrying its own bearer header cannot be forged cross-site, and curl sends no Origin.
  const csrfCheck = csrf();
  app.use(
    "/v1/*",
    (c, next) =>
      c.req.header("authorization") || SIGNED_V1.has(c.req.path) ? next() : csrfCheck(c, next),
  );
  app.use("/v1/*", limitBody(ctx.maxBodyBytes ?? DEFAULT_MAX_BODY));
  const json = jsonBody();
  app.use("/v1/*", (c, next) => (SIGNED_V1.has(c.req.path) ? next() : json(c, next)));

  app.route("/", healthRouter(ctx));
  app.route("/", metricsRouter(ctx));
  app.route("/v1", callbacksRouter(ctx));
  app.route("/v1", sessionRouter(ctx.sessions));
  app.route("/", opsPageRouter());
  app.route("/", wellKnownRouter(ctx));
  for (const router of ROUTERS) app.route("/v1", router(ctx));

  documentHealthRoutes(app.openAPIRegistry);
  documentSessionRoutes(app.openAPIRegistry);
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "a token from `sluice token create` (prefix sluice_)",
  });
  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Sluice API", version: VERSION },
    security: [{ bearer: [] }],
  });
  app.onError(onErrorHandler(ctx));
  app.notFound(notFoundHandler);
  return app;
}

/**
 * Every refused enqueue (bad input, unknown queue, payload too large, rate or size limit) is one
 * row in `policy_decisions` and one `policy_denied` line. Runs after the answer is decided, so
 * it sees the error whichever layer raised it; a failure to record is logged, not answered.
 */
function recordDenials(ctx: ApiContext): MiddlewareHandler<Env> {
  return async function recordDenials(c, next) {
    await next();
    if (!c.error || c.req.method !== "POST" || !isEnqueuePath(c.req.path)) return;
    const e = toSluiceError(c.error);
    const status = httpStatusOf(e.code);
    if (status < 400 || status >= 500 || e.code === "FORBIDDEN" || e.code === "RATE_LIMITED") {
      return;
    }
    if (e.code === "ENQUEUE_RATE_EXCEEDED" || e.code === "QUEUE_FULL") {
      ctx.limiter.count("queue", routeLabel(c));
    }
    // A body that was refused unread (too large, not JSON) is not read now either.
    const unread = ["UNSUPPORTED_MEDIA_TYPE", "MALFORMED_JSON", "PAYLOAD_TOO_LARGE"];
    const queue = typeof e.details.queue === "string"
      ? e.details.queue
      : unread.includes(e.code) || !ENQUEUE_PATHS.has(c.req.path)
      ? null
      : await queueOfBody(c);
    const tokenName = c.get("token")?.name ?? null;
    ctx.log.info("policy_denied", {
      queue,
      code: e.code,
      detail: e.message,
      token_name: tokenName,
      request_id: c.get("requestId"),
    });
    try {
      await recordDecision(ctx.sql, { queue, code: e.code, detail: e.message, tokenName });
    } catch (err) {
      ctx.log.warn("policy_decision_not_recorded", { error: err, code: e.code });
    }
  };
}

async function queueOfBody(c: Context<Env>): Promise<string | null> {
  try {
    const body = await c.req.json();
    if (c.req.path.endsWith("/batch")) {
      const names = new Set(
        (Array.isArray(body?.jobs) ? body.jobs : []).map((j: { queue?: unknown }) =>
          typeof j?.queue === "string" ? j.queue : "default"
        ),
      );
      return names.size === 1 ? [...names][0] as string : null;
    }
    return typeof body?.queue === "string" ? body.queue : "default";
  } catch {
    return null;
  }
}
