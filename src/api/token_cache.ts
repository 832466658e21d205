/**
 * Verified bearer tokens, cached per api process.
 *
 * Tokens are looked up by the SHA-256 digest of what the caller sent: no secret is ever compared
 * byte by byte, so response timing says nothing about a token's characters. Verified tokens are
 * cached for `cacheMs` (a revoked token stops working within that delay), and `last_used_at` is
 * written in one batched UPDATE every `flushMs`, never once per request.
 */
import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { findTokenByHash, hashToken, touchTokens } from "../auth/tokens.ts";
import type { ApiToken } from "./env.ts";
import { LastUsed } from "./_last_used.ts";

const MAX_CACHED = 10_000;

export class TokenAuthenticator {
  readonly #sql: Sql;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { token: ApiToken; at: number }>();
  readonly #lastUsed: LastUsed;

  constructor(
    sql: Sql,
    log: Logger,
    { cacheMs = 2_000, flushMs = 5_000 }: { cacheMs?: number; flushMs?: number } = {},
  ) {
    this.#sql = sql;
    this.#cacheMs = cacheMs;
    this.#lastUsed = new LastUsed((ids) => touchTokens(sql, ids), log, {
      failedMsg: "token_touch_failed",
      flushMs,
    });
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
    if (token) this.#lastUsed.mark(token.id, now);
    return token;
  }

  /** Drops a token from the cache (revoked through this process: refused from now on). */
  forget(id: string): void {
    for (const [hash, e] of this.#cache) if (e.token.id === id) this.#cache.delete(hash);
  }

  /** Writes the pending `last_used_at` updates now. */
  flush(): Promise<void> {
    return this.#lastUsed.flush();
  }
}
