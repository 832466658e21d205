/**
 * Browser sessions for the ops page: a token is exchanged once for a signed cookie.
 *
 * The cookie carries `{h: SHA-256 of the token, e: expiry, n: nonce}` and an HMAC-SHA256 over
 * it; the nonce keys a row in `sluice.sessions` (src/auth/sessions.ts). Each request looks the
 * row up joined to its token, so signing out, revoking the token or replacing its value ends
 * the session for good, in every api process and across restarts (a stateless cookie with a
 * per-process sign-out list came back to life after a restart). No secret is ever stored in the
 * browser (HttpOnly: page scripts cannot read it either). A session that ended answers 401
 * SESSION_REVOKED (signed out) or TOKEN_REVOKED, so the page can tell the operator why.
 *
 * The HMAC key is `SLUICE_SESSION_SECRET` when set (needed when several api processes sit
 * behind one address), otherwise 32 random bytes drawn at start-up: sessions then end when the
 * process restarts, which is the safe default.
 *
 * CSRF: the cookie is SameSite=Strict (a cross-site request does not carry it at all), and in
 * addition every state-changing request authenticated by the cookie must carry
 * `x-csrf-token` = HMAC(key, "csrf." + cookie payload), which only a page that read
 * `GET /v1/session` on this origin knows; a custom header also forces a CORS preflight that
 * this API never grants. A request whose `Origin` (or `Sec-Fetch-Site`) says cross-site is
 * refused before anything else. Sign-in itself (`POST /v1/session`) needs a JSON body and a
 * same-origin `Origin` when the browser sends one, so a third-party page cannot log a victim
 * into the attacker's account.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createSession, endSession, lookupSession, type SessionLookup } from "../auth/sessions.ts";
import { hashToken } from "../auth/tokens.ts";
import type { Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";

export type SessionScope = "admin" | "producer" | "worker" | "read";

/** The caller as the API's auth middleware sees it. */
export interface SessionToken {
  id: string;
  name: string;
  scope: SessionScope;
}

export interface SessionOptions {
  /**
   * The live token for a presented secret (hash lookup, revocation respected), or null; may
   * throw (a locked-out address).
   */
  verifySecret(secret: string, c: Context): Promise<SessionToken | null>;
  /** Server-side session state (`sluice.sessions`). */
  store: SessionStore;
  /** HMAC key material (`SLUICE_SESSION_SECRET`); null draws a per-process random key. */
  secret?: string | null;
  /** Session lifetime; default 12 hours (one on-call shift). */
  ttlMs?: number;
  /** Called for each failed sign-in (rate limiting by IP). */
  onFailedSignIn?(c: Context): void;
  /** Clock for tests. */
  now?: () => number;
}

/** Where sessions live: the database in the api (src/auth/sessions.ts). */
export interface SessionStore {
  create(s: { id: string; tokenHash: string; expiresAt: Date }): Promise<boolean>;
  lookup(s: { id: string; tokenHash: string }): Promise<SessionLookup>;
  end(id: string): Promise<void>;
}

const COOKIE = "sluice_session";
/** `__Host-` cookies must be Secure, host-only and Path=/: used when served over https. */
const SECURE_COOKIE = "__Host-sluice_session";
export const CSRF_HEADER = "x-csrf-token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const enc = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromB64url(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const s = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

interface Claims {
  h: string;
  e: number;
  n: string;
}

export interface Session {
  token: SessionToken;
  csrfToken: string;
  expiresAt: string;
}

export class SessionManager {
  readonly #key: Promise<CryptoKey>;
  readonly #opts: SessionOptions;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: SessionOptions) {
    this.#opts = opts;
    this.#ttlMs = opts.ttlMs ?? 12 * 3_600_000;
    this.#now = opts.now ?? Date.now;
    const material = opts.secret
      ? enc.encode(`sluice-session:${opts.secret}`)
      : crypto.getRandomValues(new Uint8Array(32));
    this.#key = crypto.subtle.importKey("raw", material, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
  }

  async #mac(purpose: string, payload: string): Promise<Uint8Array> {
    return new Uint8Array(
      await crypto.subtle.sign("HMAC", await this.#key, enc.encode(`${purpose}.${payload}`)),
    );
  }

  /**
   * A signed cookie value for the token whose hash is `tokenHash`, its session recorded; null
   * when that token is no longer live.
   */
  async issue(
    tokenHash: string,
  ): Promise<{ cookie: string; csrfToken: string; expiresAt: number } | null> {
    const claims: Claims = {
      h: tokenHash,
      e: this.#now() + this.#ttlMs,
      n: b64url(crypto.getRandomValues(new Uint8Array(16))),
    };
    const stored = await this.#opts.store.create({
      id: claims.n,
      tokenHash,
      expiresAt: new Date(claims.e),
    });
    if (!stored) return null;
    const payload = b64url(enc.encode(JSON.stringify(claims)));
    const cookie = `${payload}.${b64url(await this.#mac("session", payload))}`;
    return { cookie, csrfToken: b64url(await this.#mac("csrf", payload)), expiresAt: claims.e };
  }

  /** The claims of a well-signed, unexpired cookie value, or null. */
  async #open(value: string): Promise<{ claims: Claims; payload: string } | null> {
    const [payload, sig, extra] = value.split(".");
    if (!payload || !sig || extra !== undefined || value.length > 1024) return null;
    const mac = fromB64url(sig);
    if (!mac) return null;
    // crypto.subtle.verify compares in constant time.
    const good = await crypto.subtle.verify(
      "HMAC",
      await this.#key,
      mac,
      enc.encode(`session.${payload}`),
    );
    if (!good) return null;
    let claims: Claims;
    try {
      claims = JSON.parse(new TextDecoder().decode(fromB64url(payload)!));
    } catch {
      return null;
    }
    if (
      typeof claims.h !== "string" || typeof claims.e !== "number" || typeof claims.n !== "string"
    ) return null;
    if (claims.e <= this.#now()) return null;
    return { claims, payload };
  }

  async #csrfMatches(payload: string, presented: string | undefined): Promise<boolean> {
    const mac = presented ? fromB64url(presented) : null;
    if (!mac) return false;
    return await crypto.subtle.verify("HMAC", await this.#key, mac, enc.encode(`csrf.${payload}`));
  }

  /**
   * The session of this request, or null when it has no valid cookie. Throws SESSION_REVOKED or
   * TOKEN_REVOKED for a session that was ended, and CSRF_REJECTED for a state-changing request
   * that carries the cookie without proof that this origin's page sent it.
   */
  async authenticate(c: Context): Promise<Session | null> {
    const value = getCookie(c, SECURE_COOKIE) ?? getCookie(c, COOKIE);
    if (!value) return null;
    const opened = await this.#open(value);
    if (!opened) return null;
    if (!SAFE_METHODS.has(c.req.method)) {
      assertSameOrigin(c);
      if (!(await this.#csrfMatches(opened.payload, c.req.header(CSRF_HEADER)))) {
        throw new SluiceError(
          "CSRF_REJECTED",
          `a state-changing request with a session cookie needs the '${CSRF_HEADER}' header from GET /v1/session`,
        );
      }
    }
    const found = await this.#opts.store.lookup({
      id: opened.claims.n,
      tokenHash: opened.claims.h,
    });
    if (found.state === "unknown") return null;
    if (found.state === "signed_out") {
      throw new SluiceError("SESSION_REVOKED", "this session was signed out: sign in again");
    }
    if (found.state === "token_revoked") {
      throw new SluiceError(
        "TOKEN_REVOKED",
        "the token this session was signed in with has been revoked: sign in with a current token",
      );
    }
    return {
      token: found.token,
      csrfToken: b64url(await this.#mac("csrf", opened.payload)),
      expiresAt: new Date(opened.claims.e).toISOString(),
    };
  }

  /** Ends the session of a cookie value for good (sign-out). */
  async end(value: string): Promise<void> {
    const opened = await this.#open(value);
    if (opened) await this.#opts.store.end(opened.claims.n);
  }

  async signIn(c: Context, secret: string): Promise<Session> {
    const token = await this.#opts.verifySecret(secret, c);
    if (!token) {
      this.#opts.onFailedSignIn?.(c);
      throw new SluiceError("UNAUTHENTICATED", "the token is invalid or revoked");
    }
    const issued = await this.issue(await hashToken(secret));
    if (!issued) throw new SluiceError("UNAUTHENTICATED", "the token is invalid or revoked");
    const secure = isHttps(c);
    setCookie(c, secure ? SECURE_COOKIE : COOKIE, issued.cookie, {
      httpOnly: true,
      sameSite: "Strict",
      secure,
      path: "/",
      maxAge: Math.floor(this.#ttlMs / 1000),
    });
    return {
      token,
      csrfToken: issued.csrfToken,
      expiresAt: new Date(issued.expiresAt).toISOString(),
    };
  }

  async signOut(c: Context): Promise<void> {
    for (const name of [SECURE_COOKIE, COOKIE]) {
      const value = getCookie(c, name);
      if (value === undefined) continue;
      await this.end(value);
      deleteCookie(
        c,
        name,
        name === SECURE_COOKIE ? { path: "/", secure: true } : { path: "/" },
      );
    }
  }
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" ||
    c.req.header("x-forwarded-proto")?.split(",")[0]?.trim() === "https";
}

/**
 * Refuses a request a browser marks as cross-site: `Sec-Fetch-Site: cross-site|same-site`, or an
 * `Origin` whose host differs from the request's `Host`. Clients that send neither (curl,
 * scripts with a bearer token) are not browsers and pass.
 */
export function assertSameOrigin(c: Context): void {
  const site = c.req.header("sec-fetch-site");
  if (site === "cross-site" || site === "same-site") {
    throw new SluiceError("CSRF_REJECTED", "cross-site requests are refused", { site });
  }
  const origin = c.req.header("origin");
  if (origin === undefined) return;
  let host: string | null = null;
  try {
    host = origin === "null" ? null : new URL(origin).host;
  } catch { /* unparseable: refused below */ }
  if (host === null || host !== c.req.header("host")) {
    throw new SluiceError("CSRF_REJECTED", `requests from origin '${origin}' are refused`, {
      origin,
    });
  }
}

function publicSession(s: Session) {
  return {
    name: s.token.name,
    scope: s.token.scope,
    csrfToken: s.csrfToken,
    expiresAt: s.expiresAt,
  };
}

/**
 * `POST /v1/session` {token} → sets the cookie, `{name, scope, csrfToken, expiresAt}`;
 * `GET /v1/session` → the same for the current cookie (401 without one);
 * `DELETE /v1/session` → clears it (204). Mount under `/v1` before the bearer-only middleware.
 */
export function sessionRouter(sessions: SessionManager): Hono {
  const r = new Hono();
  r.post("/session", async (c) => {
    assertSameOrigin(c);
    if (!(c.req.header("content-type") ?? "").startsWith("application/json")) {
      throw new SluiceError("UNSUPPORTED_MEDIA_TYPE", 'send the token as JSON: {"token":"…"}');
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new SluiceError("MALFORMED_JSON", "the request body is not valid JSON");
    }
    const token = (body as { token?: unknown } | null)?.token;
    if (typeof token !== "string" || token.length === 0 || token.length > 512) {
      throw new SluiceError("VALIDATION_FAILED", "'token': a token string is required");
    }
    const s = await sessions.signIn(c, token.trim());
    c.header("cache-control", "no-store");
    return c.json(publicSession(s), 200);
  });
  r.get("/session", async (c) => {
    const s = await sessions.authenticate(c);
    if (!s) throw new SluiceError("UNAUTHENTICATED", "no session: sign in with a token");
    c.header("cache-control", "no-store");
    return c.json(publicSession(s), 200);
  });
  r.delete("/session", async (c) => {
    assertSameOrigin(c);
    await sessions.signOut(c);
    return c.body(null, 204);
  });
  return r;
}

/**
 * For the API's auth middleware: when a request has no `Authorization` header, a valid session
 * cookie authenticates it as the session's token. Sets `token` like bearer auth does.
 */
export function sessionAuth(
  sessions: SessionManager,
): MiddlewareHandler<{ Variables: { token: SessionToken } }> {
  return async function sessionAuth(c, next) {
    if (!c.req.header("authorization") && !c.get("token")) {
      const s = await sessions.authenticate(c);
      if (s) c.set("token", s.token);
    }
    await next();
  };
}

/**
 * The API's session manager: sign-in verifies through the API's token authenticator (same
 * cache, same `last_used_at` batching, same failed-auth limiter), sessions live in the database.
 */
export function createSessionManager(deps: {
  sql: Sql;
  secret: string | null;
  verifySecret: SessionOptions["verifySecret"];
  onFailedSignIn?: SessionOptions["onFailedSignIn"];
}): SessionManager {
  return new SessionManager({
    verifySecret: deps.verifySecret,
    store: {
      create: (x) => createSession(deps.sql, x),
      lookup: (x) => lookupSession(deps.sql, x),
      end: (id) => endSession(deps.sql, id),
    },
    secret: deps.secret,
    onFailedSignIn: deps.onFailedSignIn,
  });
}

/** The session routes in the OpenAPI document (served by the plain router above). */
export function documentSessionRoutes(doc: OpenAPIHono["openAPIRegistry"]): void {
  const Session = z.object({
    name: z.string(),
    scope: z.string(),
    csrfToken: z.string().openapi({ description: "send as x-csrf-token on state changes" }),
    expiresAt: z.string(),
  }).openapi("Session");
  const ok = (description: string) => ({
    description,
    content: { "application/json": { schema: Session } },
  });
  const tags = ["session"];
  doc.registerPath({
    method: "post",
    path: "/v1/session",
    tags,
    summary: "Sign the ops page in with a token: sets an HttpOnly, SameSite=Strict cookie",
    security: [],
    request: {
      body: {
        content: { "application/json": { schema: z.object({ token: z.string() }) } },
        required: true,
      },
    },
    responses: { 200: ok("signed in"), 401: { description: "the token is invalid or revoked" } },
  });
  doc.registerPath({
    method: "get",
    path: "/v1/session",
    tags,
    summary: "The current session",
    security: [],
    responses: { 200: ok("the session"), 401: { description: "no session" } },
  });
  doc.registerPath({
    method: "delete",
    path: "/v1/session",
    tags,
    summary: "Sign out (clears the cookie)",
    security: [],
    responses: { 204: { description: "signed out" } },
  });
}
