/**
 * Bearer-token authentication and scope checks for `/v1` (the token lookup and its cache are
 * in token_cache.ts). A bearer shaped like a JWT is an OIDC ID token when SLUICE_OIDC_ISSUER is
 * set (id_token_auth.ts): same failed-auth limiter, same scopes, its refusals with their own
 * codes (TOKEN_EXPIRED, AUDIENCE_MISMATCH, IDENTITY_NOT_ALLOWED, …) instead of UNAUTHENTICATED.
 */
import type { Context, MiddlewareHandler } from "hono";
import { isSluiceError, SluiceError } from "../errors.ts";
import { looksLikeJwt } from "../auth/oidc_verifier.ts";
import { bearerIn } from "../delivery/callback_identity.ts";
import type { Scope } from "../auth/tokens.ts";
import type { AuthFailureReason } from "./auth_failures.ts";
import { clientIp } from "./client_ip.ts";
import type { ApiContext, ApiToken, Env } from "./deps.ts";
import { routeLabel } from "./observe.ts";

/** The bearer secret of a request, or null when there is no well-formed Authorization header. */
export function bearerOf(c: Context): string | null {
  return bearerIn(c.req.header("authorization"));
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
  // Sign-in stays token-only: an ops page session is tied to a row of sluice.tokens.
  if (reason === "invalid_token" && ctx.idTokens && looksLikeJwt(secret)) {
    try {
      return await ctx.idTokens.authenticate(secret, ip);
    } catch (e) {
      // The provider being unreachable is nobody's wrong guess.
      if (isSluiceError(e) && e.code !== "JWKS_UNAVAILABLE") {
        ctx.authFailures.fail(ip, "invalid_id_token");
      }
      throw e;
    }
  }
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
    let token: ApiToken | null;
    try {
      token = secret
        ? await verifyPresented(ctx, c, secret, "invalid_token")
        : (await ctx.sessions.authenticate(c))?.token ?? null;
    } catch (e) {
      // A refused ID token slows its address down like a wrong token (429s are not counted).
      if (isSluiceError(e) && e.code !== "RATE_LIMITED" && e.code !== "JWKS_UNAVAILABLE") {
        ctx.limiter.hit("ip", clientIp(c, ctx), routeLabel(c));
      }
      throw e;
    }
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
