/**
 * One error shape for every answer that is not a success: `{"error":{"code","message","details"}}`
 * with the status `httpStatusOf(code)` gives. Never a stack trace; never a 500 for bad input.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { type ErrorCode, httpStatusOf, isSluiceError, SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { SluiceSeries } from "../obs/series.ts";
import { routeLabel } from "./observe.ts";

export function errorResponse(c: Context, e: SluiceError): Response {
  const status = httpStatusOf(e.code);
  const retry = e.details.retryAfterSeconds;
  if (typeof retry === "number") c.header("Retry-After", String(Math.max(1, Math.ceil(retry))));
  return c.json({ error: e.toJSON() }, status as 400);
}

export function apiError(
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): SluiceError {
  return new SluiceError(code, message, details);
}

/** zod issues as `details.issues`: path, message and zod's code for each problem. */
export function validationFailed(error: ZodError): SluiceError {
  const issues = error.issues.map((i) => ({
    path: i.path.map(String).join("."),
    message: i.message,
    code: i.code,
  }));
  const first = issues[0];
  return new SluiceError(
    "VALIDATION_FAILED",
    first ? `${first.path ? `'${first.path}': ` : ""}${first.message}` : "the request is invalid",
    { issues },
  );
}

/** The `defaultHook` of every router: a failed zod check becomes VALIDATION_FAILED. */
export function validationHook(
  result: { success: true } | { success: false; error: ZodError },
): void {
  if (!result.success) throw validationFailed(result.error);
}

/**
 * postgres.js connection failures and PostgreSQL's "cannot connect now" classes. EPIPE and
 * friends: a query written to a socket the server just closed (a restart under load); without
 * them such requests answered 500 instead of 503. 25006 (read-only transaction): a connection
 * that reached a standby or a demoted primary during a failover; the writable server is about
 * to be elsewhere, so it is an outage to retry, not a bug.
 */
function isDatabaseDown(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && (
    /^(ECONNREFUSED|ENOENT|ETIMEDOUT|ECONNRESET|EPIPE|ECONNABORTED|ENOTCONN|EHOSTUNREACH|ENETUNREACH|CONNECT_TIMEOUT|CONNECTION_(CLOSED|ENDED|DESTROYED))$/
      .test(code) || /^(08|57P0|53300|25006)/.test(code)
  );
}

/**
 * PostgreSQL's data exceptions that only a value can cause: malformed numbers or times, out of
 * range, NUL or invalid text, JSON nesting past the server's limit. The routes validate what
 * they know of; this is the net below them, so a value they missed is the caller's 400 and not
 * our 500. Logged as `db_rejected_value` (warn) by `onError`, so a gap in validation shows.
 */
function isRejectedValue(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" &&
    /^(22P02|22003|22007|22008|22009|22021|22P05|22025|2201[0-9A-Z]|54001)$/.test(code);
}

/**
 * 57014 `query_canceled`: the statement ran past the api pool's `statement_timeout`
 * (SLUICE_DB_STATEMENT_TIMEOUT). An operator's `pg_cancel_backend` raises the same code; it is
 * the same story for the caller (the database gave up on the request), so it answers the same.
 */
function isStatementTimeout(e: unknown): boolean {
  return (e as { code?: unknown })?.code === "57014";
}

/** At most one `database_unavailable` line per second, however many requests are refused. */
const OUTAGE_LOG_EVERY_MS = 1_000;

const HTTP_CODES: Record<number, ErrorCode> = {
  400: "VALIDATION_FAILED",
  401: "UNAUTHENTICATED",
  403: "CSRF_REJECTED",
  404: "NOT_FOUND",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  504: "TIMEOUT",
};

export function toSluiceError(e: unknown): SluiceError {
  if (isSluiceError(e)) return e;
  if (e instanceof HTTPException) {
    const code = HTTP_CODES[e.status];
    if (code === "TIMEOUT") return new SluiceError(code, "the request took too long");
    if (code === "CSRF_REJECTED") {
      return new SluiceError(code, "cross-site form submissions are refused");
    }
    if (code) return new SluiceError(code, e.message || code.toLowerCase().replaceAll("_", " "));
  }
  if (isStatementTimeout(e)) {
    return new SluiceError(
      "DATABASE_TIMEOUT",
      "a database statement ran longer than SLUICE_DB_STATEMENT_TIMEOUT and was cancelled; retry later",
    );
  }
  if (isRejectedValue(e)) {
    return new SluiceError(
      "VALIDATION_FAILED",
      `a value was refused by the database: ${(e as Error).message}`,
      { issues: [{ path: "", message: (e as Error).message, code: "invalid_value" }] },
    );
  }
  if (isDatabaseDown(e)) {
    return new SluiceError("DATABASE_UNAVAILABLE", "the database is unreachable; retry shortly", {
      retryAfterSeconds: 2,
    });
  }
  return new SluiceError("INTERNAL", "internal error; the server log has the details");
}

/**
 * Maps every thrown value to the error shape and logs what an operator acts on: outages at a
 * bounded rate, statement timeouts (also counted per route), other 5xx, values the database
 * refused.
 */
export function onErrorHandler(
  { log, series }: { log: Logger; series: Pick<SluiceSeries, "dbStatementTimeouts"> },
): ErrorHandler {
  let outageLoggedAt = 0;
  let suppressed = 0;
  return function onError(err, c) {
    const e = toSluiceError(err);
    const status = httpStatusOf(e.code);
    if (e.code === "DATABASE_UNAVAILABLE") {
      // An outage refuses every request: log its rate, not each one.
      const now = Date.now();
      if (now - outageLoggedAt < OUTAGE_LOG_EVERY_MS) suppressed++;
      else {
        log.error("database_unavailable", {
          route: c.req.routePath,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          suppressed,
        });
        outageLoggedAt = now;
        suppressed = 0;
      }
    } else if (e.code === "DATABASE_TIMEOUT") {
      const route = routeLabel(c);
      series.dbStatementTimeouts.inc({ route });
      log.warn("db_statement_timeout", {
        route,
        method: c.req.method,
        request_id: c.get("requestId"),
        error: (err as Error).message,
      });
    } else if (isRejectedValue(err)) {
      log.warn("db_rejected_value", {
        route: c.req.routePath,
        method: c.req.method,
        request_id: c.get("requestId"),
        error: (err as Error).message,
      });
    } else if (status >= 500) {
      log.error("request_failed", {
        route: c.req.routePath,
        method: c.req.method,
        status,
        code: e.code,
        request_id: c.get("requestId"),
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      });
    }
    return errorResponse(c, e);
  };
}

export const notFoundHandler: NotFoundHandler = (c) =>
  errorResponse(
    c,
    new SluiceError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`, {
      method: c.req.method,
      path: c.req.path,
    }),
  );
