/**
 * What the HTTP API is built from. `createApp(deps)` takes everything it uses from here (no
 * module-level state), so tests build an app per database and several apps can live in one
 * process.
 */
import type { Context } from "hono";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Config } from "../config/vars.ts";
import type { Sql } from "../db/connect.ts";
import type { DbGauges } from "../obs/db_gauges.ts";
import type { Logger } from "../obs/log.ts";
import type { Registry } from "../obs/metrics.ts";
import type { SluiceSeries } from "../obs/series.ts";
import type { Telemetry } from "../obs/telemetry/mod.ts";
import type { Admission } from "../queue/admission.ts";
import type { Engine } from "../queue/engine.ts";
import type { EngineDefaults } from "../queue/queues.ts";
import type { TokenAuthenticator } from "./token_cache.ts";
import type { IdTokenAuthenticator } from "./id_token_auth.ts";
import type { JwksCacheOptions } from "../auth/jwks_cache.ts";
import type { OidcVerifiers } from "../auth/oidc_setup.ts";
import type { Env } from "./env.ts";
import type { AuthFailureLimiter } from "./auth_failures.ts";
import { validationHook } from "./errors.ts";
import type { RateLimiter } from "./rate_limit.ts";
import type { SessionManager } from "./session.ts";
import type { StatusService } from "./status.ts";

export interface ApiDeps {
  sql: Sql;
  config: Config;
  log: Logger;
  defaults: EngineDefaults;
  /** Largest request body in bytes (a batch carries many payloads); default 16 MiB. */
  maxBodyBytes?: number;
  /** How long a verified token is trusted before it is looked up again (revocation delay); 2 s. */
  tokenCacheMs?: number;
  /** How long database gauges (`/metrics`, `/metrics/prom`) are reused; 5 s, 0 in tests. */
  gaugesCacheMs?: number;
  /** How long the system status (/health, /v1/ops/queues) is reused; 2 s, 0 in tests. */
  statusCacheMs?: number;
  /** How long /.well-known/jwks.json reuses the push keys it read; 10 s, 0 in tests. */
  wellKnownCacheMs?: number;
  /** How long /readyz trusts its last look at the migrations table; 5 s, 0 in tests. */
  migrationsCacheMs?: number;
  /**
   * The peer's address. Default: the socket's remote address from `Deno.serve`; tests pass a
   * fixed value. `X-Forwarded-For` from a peer in SLUICE_TRUSTED_PROXIES applies on top
   * (src/api/client_ip.ts).
   */
  clientIp?: (c: Context) => string | null;
  /**
   * The process's metrics registry, served by `/metrics/prom`. `sluice up` passes the worker's,
   * so one scrape shows both roles; default: a registry of the api's own.
   */
  registry?: Registry;
  /** The role's engine state (src/queue/engine.ts); default: one made for this app's pool. */
  engine?: Engine;
  /** How the OIDC issuer's keys are fetched and cached (tests shorten the intervals). */
  jwksOptions?: Partial<JwksCacheOptions>;
  /** The role's telemetry (src/obs/telemetry/mod.ts): spans per request, exporter health. */
  telemetry?: Telemetry;
}

/** Services `createApp` builds once and hands to every router with the deps. */
export interface ApiContext extends ApiDeps {
  auth: TokenAuthenticator;
  /** OIDC ID tokens of granted identities as callers; null without SLUICE_OIDC_AUDIENCE. */
  idTokens: IdTokenAuthenticator | null;
  /** The issuer's verifiers (API callers, callbacks); null without SLUICE_OIDC_ISSUER. */
  oidc: OidcVerifiers | null;
  limiter: RateLimiter;
  /** Failed authentication per client address, with lockouts (src/api/auth_failures.ts). */
  authFailures: AuthFailureLimiter;
  admission: Admission;
  engine: Engine;
  /** Ops page sign-in: signed session cookies (src/api/session.ts). */
  sessions: SessionManager;
  /** The system status behind /health and /v1/ops/queues, shared a few seconds (status.ts). */
  status: StatusService;
  registry: Registry;
  /** The shared series (src/obs/series.ts) the api writes: requests, rate limits, db timings. */
  series: SluiceSeries;
  /** Database-derived gauges and per-queue counts, cached a few seconds (src/obs/db_gauges.ts). */
  gauges: DbGauges;
}

export type { ApiToken, Env } from "./env.ts";

/**
 * A router for one area (`src/api/<area>.ts` exports `fooRouter(ctx)`), with the shared
 * validation hook so zod failures answer 400 VALIDATION_FAILED like everything else.
 */
export function newRouter(): OpenAPIHono<Env> {
  return new OpenAPIHono<Env>({ defaultHook: validationHook });
}
