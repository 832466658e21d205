/**
 * The ID token of an http push (`Authorization: Bearer <JWT>`), for a queue whose delivery sets
 * `oidcAudience`: what Cloud Tasks' OIDC mode gives its targets, so a receiver verifies the
 * caller with any JWT middleware against Sluice's `/.well-known/jwks.json`.
 *
 * Claims: `iss` (SLUICE_PUSH_OIDC_ISSUER), `aud` (the queue's oidcAudience), `sub`
 * (`sluice:queue:<queue>`), `iat`/`exp` (SLUICE_PUSH_TOKEN_LIFETIME, 5 minutes by default),
 * `jti`, and `sluice_job_id`/`sluice_attempt`, so a receiver can check the token belongs to
 * the push it came with (a token copied from one push does not vouch for another job).
 *
 * One token per push: ES256 signing costs well under a millisecond. The signing key is read
 * from the database at most once per `keyCacheMs` (default 60 s): a rotation reaches every
 * worker within that, and the retired key stays published far longer (push_keys.ts).
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

  constructor(sql: Db, opts: PushTokenOptions) {
    this.#sql = sql;
    this.#o = opts;
  }

  async mint(
    { audience, queue, jobId, attempt }: {
      audience: string;
      queue: string;
      jobId: string;
      attempt: number;
    },
  ): Promise<string> {
    const { kid, privateKey } = await this.#signingKey();
    const now = Math.floor((this.#o.now ?? Date.now)() / 1000);
    return await new SignJWT({ sluice_job_id: jobId, sluice_attempt: attempt })
      .setProtectedHeader({ alg: PUSH_ALG, kid, typ: "JWT" })
      .setIssuer(this.#o.issuer)
      .setAudience(audience)
      .setSubject(`sluice:queue:${queue}`)
      .setIssuedAt(now)
      .setExpirationTime(now + Math.max(1, Math.round(this.#o.lifetimeMs / 1000)))
      .setJti(crypto.randomUUID())
      .sign(privateKey);
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
