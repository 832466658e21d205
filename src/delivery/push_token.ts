/**
 * The ID token of an http push (`Authorization: Bearer <JWT>`), for a queue whose delivery sets
 * `oidcAudience`: what Cloud Tasks' OIDC mode gives its targets, so a receiver verifies the
 * caller with any JWT middleware against Sluice's `/.well-known/jwks.json`.
 *
 * Claims: `iss` (SLUICE_PUSH_OIDC_ISSUER), `aud` (the queue's oidcAudience), `sub`
 * (`sluice:queue:<queue>`), `iat`/`exp` (SLUICE_PUSH_TOKEN_LIFETIME, 5 minutes by default),
 * `jti`.
 *
 * A token is reused for its (audience, queue) until half its lifetime has passed, as Google's
 * client libraries reuse theirs: minting one per push made push delivery 4x slower (bench/push.ts
 * --oidc, 5,000 jobs, 287 → 60 jobs/s on this 2-core machine under load): ES256 signing in
 * Deno costs milliseconds here. So the token vouches for the sender and the queue, not for one
 * job; what binds a request to its job is the Standard Webhooks signature over the body
 * (SLUICE_SIGNING_SECRETS). The signing key is read from the database at most once per
 * `keyCacheMs` (default 60 s); a new key mints a new token at once. A rotation reaches every
 * worker within that, and the old key stays published far longer (push_keys.ts).
 */
import { SignJWT } from "jose";
import { activeSigningKey, PUSH_ALG, type PushSigningKey } from "../auth/push_keys.ts";
import type { Db } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";

export interface PushTokenOptions {
  issuer: string;
  /** SLUICE_PUSH_KEY_SECRET: decrypts the stored private key (null: stored unencrypted). */
  keySecret: string | null;
  lifetimeMs: number;
  keyCacheMs?: number;
  now?: () => number;
  /** Says once that the signing key is stored unencrypted (no keySecret). */
  log?: Logger;
}

export class PushTokenMinter {
  readonly #sql: Db;
  readonly #o: PushTokenOptions;
  #key: { key: Promise<PushSigningKey>; at: number } | null = null;
  #warned = false;
  readonly #tokens = new Map<string, { token: string; kid: string; renewAt: number }>();

  constructor(sql: Db, opts: PushTokenOptions) {
    this.#sql = sql;
    this.#o = opts;
  }

  /** A token for `audience` and `queue`: a fresh one, or the cached one while it is young. */
  async mint({ audience, queue }: { audience: string; queue: string }): Promise<string> {
    const { kid, privateKey } = await this.#signingKey();
    const nowMs = (this.#o.now ?? Date.now)();
    const key = `${audience}\n${queue}`;
    const hit = this.#tokens.get(key);
    if (hit && hit.kid === kid && nowMs < hit.renewAt) return hit.token;
    const now = Math.floor(nowMs / 1000);
    const lifetime = Math.max(1, Math.round(this.#o.lifetimeMs / 1000));
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: PUSH_ALG, kid, typ: "JWT" })
      .setIssuer(this.#o.issuer)
      .setAudience(audience)
      .setSubject(`sluice:queue:${queue}`)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetime)
      .setJti(crypto.randomUUID())
      .sign(privateKey);
    // Bounded by the queues and audiences an admin configured; cleared if it ever grows odd.
    if (this.#tokens.size > 1_000) this.#tokens.clear();
    this.#tokens.set(key, { token, kid, renewAt: now * 1000 + (lifetime * 1000) / 2 });
    return token;
  }

  #signingKey(): Promise<PushSigningKey> {
    const now = Date.now();
    if (!this.#o.keySecret && !this.#warned) {
      this.#warned = true;
      this.#o.log?.warn("push_signing_key_unencrypted", {
        hint: "set SLUICE_PUSH_KEY_SECRET: push signing keys are stored unencrypted",
      });
    }
    if (!this.#key || now - this.#key.at >= (this.#o.keyCacheMs ?? 60_000)) {
      const key = activeSigningKey(this.#sql, this.#o.keySecret);
      this.#key = { key, at: now };
      // A failed read is not cached: the next push asks again.
      key.catch(() => (this.#key = null));
    }
    return this.#key.key;
  }
}
