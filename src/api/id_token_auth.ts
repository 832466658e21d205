/**
 * OIDC ID tokens as API callers, beside Sluice tokens: a verified token (src/auth/
 * oidc_verifier.ts) whose issuer + subject, or issuer + verified email, holds a live grant
 * (src/auth/identities.ts) is a caller with that grant's scope, named `identity/<name>`.
 *
 * Grants are cached for `cacheMs` like tokens (a revoked identity stops working within that
 * delay), and `last_used_at` is written in one batched UPDATE every `flushMs`. Every refusal is
 * counted by code (`sluice_id_token_refusals_total{code}`) and logged (`id_token_refused`).
 */
import { findGrant, type Grant, IDENTITY_PREFIX, touchIdentities } from "../auth/identities.ts";
import type { OidcVerifier } from "../auth/oidc_verifier.ts";
import type { Sql } from "../db/connect.ts";
import { isSluiceError, SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { Counter, Registry } from "../obs/metrics.ts";
import { idTokenRefusals } from "../auth/id_token_refusals.ts";
import type { ApiToken } from "./env.ts";
import { LastUsed } from "./_last_used.ts";

const MAX_CACHED = 10_000;

export class IdTokenAuthenticator {
  readonly #sql: Sql;
  readonly #log: Logger;
  readonly #verifier: OidcVerifier;
  readonly #cacheMs: number;
  readonly #refusals: Counter;
  readonly #cache = new Map<string, { grant: Grant | null; at: number }>();
  readonly #lastUsed: LastUsed;

  constructor(
    { sql, log, verifier, registry, cacheMs = 2_000, flushMs = 5_000 }: {
      sql: Sql;
      log: Logger;
      verifier: OidcVerifier;
      registry: Registry;
      cacheMs?: number;
      flushMs?: number;
    },
  ) {
    this.#sql = sql;
    this.#log = log;
    this.#verifier = verifier;
    this.#cacheMs = cacheMs;
    this.#lastUsed = new LastUsed((ids) => touchIdentities(sql, ids), log, {
      failedMsg: "identity_touch_failed",
      flushMs,
    });
    this.#refusals = idTokenRefusals(registry, "api");
  }

  /** The caller for a JWT bearer; throws the refusal (logged and counted) otherwise. */
  async authenticate(jwt: string, ip: string | null): Promise<ApiToken> {
    let subject: string | null = null;
    try {
      const { principal, claims } = await this.#verifier.verify(jwt);
      subject = principal.subject;
      const grant = await this.#grantOf(principal);
      if (!grant) {
        const unverified = typeof claims.email === "string" && principal.verifiedEmail === null;
        throw new SluiceError(
          unverified &&
            (await this.#grantOf({ ...principal, verifiedEmail: claims.email as string }))
            ? "EMAIL_NOT_VERIFIED"
            : "IDENTITY_NOT_ALLOWED",
          unverified
            ? "no identity is granted to this subject, and the token's email is not verified (email_verified is not true)"
            : "no identity is granted to this issuer and subject or email (sluice identity add)",
          { issuer: principal.issuer, subject: principal.subject },
        );
      }
      this.#lastUsed.mark(grant.id);
      return {
        id: grant.id,
        name: IDENTITY_PREFIX + grant.name,
        scope: grant.scope,
        kind: "identity",
      };
    } catch (e) {
      if (isSluiceError(e)) {
        this.#refusals.inc({ use: "api", code: e.code });
        this.#log.warn("id_token_refused", { code: e.code, error: e.message, subject, ip });
      }
      throw e;
    }
  }

  async #grantOf(p: { issuer: string; subject: string; verifiedEmail: string | null }) {
    const key = `${p.issuer}\n${p.subject}\n${p.verifiedEmail ?? ""}`;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < this.#cacheMs) return hit.grant;
    const grant = await findGrant(this.#sql, p);
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    if (this.#cacheMs > 0) this.#cache.set(key, { grant, at: now });
    return grant;
  }

  /** Writes the pending `last_used_at` updates now. */
  flush(): Promise<void> {
    return this.#lastUsed.flush();
  }
}
