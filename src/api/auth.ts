/**
 * Bearer-token authentication and scope checks for `/v1`.
 *
 * Tokens are looked up by the SHA-256 digest of what the caller sent: no secret is ever compared
 * byte by byte, so response timing says nothing about a token's characters. Verified tokens are
 * cached for `cacheMs` (a revoked token stops working within that delay), and `last_used_at` is
 * written in one batched UPDATE every `flushMs`, never once per request.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import { findTokenByHash, hashToken, type Scope, touchTokens } from "../auth/tokens.ts";
import type { AuthFailureReason } from "./auth_failures.ts";
import { clientIp } from "./client_ip.ts";
import type { ApiContext, ApiToken, Env } from "./deps.ts";
import { routeLabel } from "./observe.ts";

const MAX_CACHED = 10_000;

export class TokenAuthenticator {
  readonly #sql: Sql;
  readonly #log: Logger;
  readonly #cacheMs: number;
  readonly #flushMs: number;
  readonly #cache = new Map<string, { token: ApiToken; at: number }>();
  #used = new Set<string>();
  #lastFlush = Date.now();
  #flushing: Promise<void> | null = null;

  constructor(
    sql: Sql,
    log: Logger,
    { cacheMs = 2_000, flushMs = 5_000 }: { cacheMs?: number; flushMs?: number } = {},
  ) {
    this.#sql = sql;
    this.#log = log;
    this.#cacheMs = cacheMs;
    this.#flushMs = flushMs;
  }

  /** The live token for this secret, or null (unknown or revoked). */
  async verify(secret: string): Promise<ApiToken | null> {
    if (secret.length > 512) return null;
    const hash = await hashToken(secret);
    const now = Date.now();
    const hit = this.#cache.get(hash);
    let token = hit && now - hit.at < this.#cacheMs ? hit.token : null;
    if (!token) {
      token = await findTokenByHash(this.#sql, hash);
      if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
      if (token && this.#cacheMs > 0) this.#cache.set(hash, { token, at: now });
      else this.#cache.delete(hash);
    }
    if (token) this.#markUsed(token.id, now);
    return token;
  }

  #markUsed(id: string, now: number): void {
    this.#used.add(id);
    // Piggybacks on traffic instead of a timer: no background task to stop in tests, and an
    // idle api has nothing to write anyway. `flush()` at shutdown writes the remainder.
    if (now - this.#lastFlush >= this.#flushMs && !this.#flushing) {
      this.flush().catch((e) => this.#log.warn("token_touch_failed", { error: e }));
    }
  }

  /** Writes the pending `last_used_at` updates now. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    this.#lastFlush = Date.now();
    const ids = [...this.#used];
    this.#used = new Set();
    this.#flushing = touchTokens(this.#sql, ids).finally(() => (this.#flushing = null));
    return this.#flushing;
  }
}

/** The bearer secret of a request, or null when there is no well-formed Authorization header. */
export function bearerOf(c: Context): string | null {
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(c.req.header("authorization") ?? "");
  return m ? m[1]! : null;
}

/**
 * The live token for a credential the caller presented (a bearer token, or the token typed into
 * the ops page's sign-in form), or null. Goes through the failed-auth limiter: a locked-out
 * address is refused (429) before its credential is even looked at, and a wrong one counts.
 */
export async function verifyPresented(
  ctx: ApiContext,
  c: Context,
  secret: string,
  reason: Exclude<AuthFailureReason, "locked_out">,
): Promise<ApiToken | null> {
  const ip = clientIp(c, ctx);
  ctx.authFailures.assertNotLocked(ip);
  const token = await ctx.auth.verify(secret);
  if (!token) ctx.authFailures.fail(ip, reason);
  return token;
}

/**
 * Every `/v1` request needs a live token: 401 UNAUTHENTICATED otherwise. Anonymous and failed
 * attempts count against the caller's IP, accepted ones against the token.
 */
export function authenticate(ctx: ApiContext): MiddlewareHandler<Env> {
  return async function authenticate(c, next) {
    const secret = bearerOf(c);
    // No bearer: the ops page's session cookie (CSRF-checked for state-changing methods).
    const token = secret
      ? await verifyPresented(ctx, c, secret, "invalid_token")
      : (await ctx.sessions.authenticate(c))?.token ?? null;
    if (!token) {
      ctx.limiter.hit("ip", clientIp(c, ctx), routeLabel(c));
      throw new SluiceError(
        "UNAUTHENTICATED",
        secret
          ? "the bearer token is invalid or revoked"
          : "send 'Authorization: Bearer <token>' (create one with `sluice token create`)",
      );
    }
    ctx.limiter.hit("token", token.name, routeLabel(c));
    c.set("token", token);
    await next();
  };
}

/** Lets the request through when its token has one of `scopes`; `admin` may do everything. */
export function requireScope(...scopes: Scope[]): MiddlewareHandler<Env> {
  return async function requireScope(c, next) {
    const token = c.get("token");
    if (!token) throw new SluiceError("UNAUTHENTICATED", "this route needs a bearer token");
    if (token.scope !== "admin" && !scopes.includes(token.scope)) {
      const required = scopeList(scopes);
      throw new SluiceError(
        "FORBIDDEN",
        `a '${token.scope}' token cannot do this; it needs ${
          required.length === 1 ? "an 'admin' token" : `one of: ${required.join(", ")}`
        }`,
        { scope: token.scope, required },
      );
    }
    await next();
  };
}

/** `admin` first, then the other scopes a route accepts, each once (admin-only routes pass none). */
export function scopeList(scopes: readonly Scope[]): Scope[] {
  return ["admin", ...new Set(scopes.filter((s) => s !== "admin"))];
}

/** Producers see only the jobs they created: the name to filter on, or null for everyone else. */
export function ownerOf(c: Context<Env>): string | null {
  const token = c.get("token");
  return token.scope === "producer" ? token.name : null;
}
