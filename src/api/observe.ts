/**
 * What the api tells about itself: one access-log line and two series per request
 * (`sluice_http_requests_total{route,status}`, `sluice_http_request_duration_seconds{route}`),
 * the rate limiter's refusals as `sluice_rate_limit_events_total{scope,route}` and failed
 * authentication as `sluice_auth_failures_total{reason}`.
 *
 * `route` is the matched route PATTERN (`/v1/jobs/:id`), never the raw path: raw paths carry ids
 * and would make one series per job; requests that match no route share `unmatched`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Sql } from "../db/connect.ts";
import { DbGauges } from "../obs/db_gauges.ts";
import type { Registry } from "../obs/metrics.ts";
import { type SluiceSeries, sluiceSeries } from "../obs/series.ts";
import type { Counter, Labels } from "../obs/metrics.ts";
import type { AuthFailureLimiter, AuthFailureReason } from "./auth_failures.ts";
import { clientIp, type ClientIpDeps } from "./client_ip.ts";
import type { Env } from "./env.ts";
import type { Logger } from "../obs/log.ts";
import type { RateLimiter, RateLimitEvents } from "./rate_limit.ts";
import { registerMigrationGauge } from "../obs/migration_gauge.ts";

/** Probes polled every few seconds by orchestrators: logged at debug so they do not drown the log. */
const QUIET_ROUTES = new Set(["/healthz", "/readyz"]);

/** The pattern of the route that answered, or `unmatched` (a 404 for an unknown path). */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  // Middleware is registered for method ALL ("*", "/v1/*"); an endpoint has a real method.
  for (let i = routes.length - 1; i >= 0; i--) {
    if (routes[i]!.method !== "ALL") return routes[i]!.path;
  }
  return "unmatched";
}

/**
 * One `http_request` line per request (info; warn for 5xx; debug for liveness probes) with
 * method, route pattern, status, latency_ms, request id, the client's address (`client_ip`, as
 * the rate limiters see it) and the caller's token name, and the HTTP series. Registered before
 * auth so refused requests are counted too.
 */
export function observeRequests(
  ctx: { log: Logger; series: SluiceSeries } & ClientIpDeps,
): MiddlewareHandler<Env> {
  const { log, series } = ctx;
  return async function observeRequests(c, next) {
    const t0 = performance.now();
    await next();
    const seconds = (performance.now() - t0) / 1000;
    const status = c.res.status;
    const route = routeLabel(c);
    series.httpRequests.inc({ route, status: String(status) });
    series.httpDuration.observe({ route }, seconds);
    const fields = {
      method: c.req.method,
      route,
      status,
      latency_ms: Math.round(seconds * 10_000) / 10,
      request_id: c.get("requestId"),
      client_ip: clientIp(c, ctx),
      token_name: c.get("token")?.name ?? null,
    };
    // 503s come in floods during an outage; onError logs those at a bounded rate.
    if (status >= 500 && status !== 503) log.warn("http_request", fields);
    else if (QUIET_ROUTES.has(route)) log.debug("http_request", fields);
    else log.info("http_request", fields);
  };
}

/**
 * The api's metrics: the shared series on `registry`, the database gauges (cached 5 s, applied
 * before each scrape), and the rate limiter's and the failed-auth limiter's counts, turned into
 * counter increments at scrape time (the limiters count in plain numbers so their paths stay
 * free of label lookups).
 */
export function apiMetrics(
  { sql, registry, limiter, authFailures, cacheMs = 5_000 }: {
    sql: Sql;
    registry: Registry;
    limiter: RateLimiter;
    authFailures: AuthFailureLimiter;
    cacheMs?: number;
  },
): { series: SluiceSeries; gauges: DbGauges } {
  const series = sluiceSeries(registry);
  const gauges = new DbGauges(sql, series, cacheMs);
  // Every scope (and reason) from the start at 0, so `rate()` works before the first refusal.
  const scopes = Object.keys(limiter.events) as (keyof RateLimitEvents)[];
  for (const scope of scopes) series.rateLimitEvents.inc({ scope }, 0);
  exportCounts(registry, series.rateLimitEvents, function* () {
    for (const d of limiter.byRoute.values()) {
      yield [{ scope: d.scope, route: d.route }, d.count];
    }
  });
  const authFailuresTotal = registry.counter(
    "sluice_auth_failures_total",
    "Credentials refused: invalid_token (bearer), invalid_id_token (OIDC, by code in sluice_id_token_refusals_total), invalid_sign_in (ops page), locked_out (refused unread during a lockout)",
    ["reason"],
  );
  const reasons = Object.keys(authFailures.failures) as AuthFailureReason[];
  for (const reason of reasons) authFailuresTotal.inc({ reason }, 0);
  exportCounts(registry, authFailuresTotal, function* () {
    for (const reason of reasons) yield [{ reason }, authFailures.failures[reason]];
  });
  registry.onCollect(() => gauges.apply());
  registerMigrationGauge(registry, sql);
  return { series, gauges };
}

/** Before each scrape, adds to `counter` what each running total in `read()` grew by. */
function exportCounts(
  registry: Registry,
  counter: Counter,
  read: () => Iterable<[Labels, number]>,
): void {
  const seen = new Map<string, number>();
  registry.onCollect(() => {
    for (const [labels, total] of read()) {
      const key = JSON.stringify(labels);
      const delta = total - (seen.get(key) ?? 0);
      if (delta > 0) counter.inc(labels, delta);
      seen.set(key, total);
    }
  });
}
