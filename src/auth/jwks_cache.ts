/**
 * The identity provider's public keys (a JWKS), cached with rotation in mind.
 *
 * Not jose's createRemoteJWKSet: it has no "keep the last good keys for a bounded time" and no
 * file source, and both are what an operator needs (an issuer that is down for a minute must
 * not lock every workload out; an air-gapped site ships the JWKS as a file). jose still does the
 * key selection and import (createLocalJWKSet), so no JOSE logic is written here.
 *
 * - Keys are refetched after `refreshMs` even while every kid is known (rotation that adds a
 *   key before using it is seen without a refusal).
 * - A kid not in the set refetches at once, but at most once per `minRefetchMs`, so tokens with
 *   made-up kids cannot turn the api into a request amplifier against the issuer.
 * - A failed fetch keeps the last good keys until `maxStaleMs` after the last success; after
 *   that every token is refused with 503 JWKS_UNAVAILABLE (the provider's fault, not the
 *   caller's: not counted as a failed authentication).
 * - A file source is read again on the same schedule, so replacing the file rotates keys.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { errors as joseErrors } from "jose";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { Counter, Registry } from "../obs/metrics.ts";

export type JwksSource =
  | { kind: "url"; url: string }
  | { kind: "file"; path: string }
  /** `<issuer>/.well-known/openid-configuration` names the JWKS (`jwks_uri`). */
  | { kind: "discovery"; issuer: string };

export interface JwksCacheOptions {
  log: Logger;
  /** Keys are refetched this long after the last fetch; default 10 minutes. */
  refreshMs?: number;
  /** An unknown kid (or a failed refresh) refetches at most once per this; default 30 s. */
  minRefetchMs?: number;
  /** How long the last good keys serve while fetches fail; default 1 hour. */
  maxStaleMs?: number;
  /** One fetch's timeout; default 5 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
  /** Where `sluice_oidc_jwks_fetches_total{result}` is counted. */
  registry?: Registry;
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

export class JwksCache {
  readonly #source: JwksSource;
  readonly #log: Logger;
  readonly #refreshMs: number;
  readonly #minRefetchMs: number;
  readonly #maxStaleMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #keys: KeyResolver | null = null;
  #kids = new Set<string>();
  /** When the keys in hand were fetched, a fetch last failed, an unknown kid last refetched. */
  #fetchedAt = 0;
  #failedAt = -Infinity;
  #kidRefetchAt = -Infinity;
  #jwksUri: string | null = null;
  #refreshing: Promise<void> | null = null;
  readonly #fetches: Counter | null;

  constructor(source: JwksSource, opts: JwksCacheOptions) {
    this.#source = source;
    this.#log = opts.log;
    this.#refreshMs = opts.refreshMs ?? 600_000;
    this.#minRefetchMs = opts.minRefetchMs ?? 30_000;
    this.#maxStaleMs = opts.maxStaleMs ?? 3_600_000;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#fetch = opts.fetch ?? fetch;
    this.#now = opts.now ?? Date.now;
    this.#fetches = opts.registry?.counter(
      "sluice_oidc_jwks_fetches_total",
      "Fetches of the OIDC issuer's keys (JWKS), by result (ok, failed)",
      ["result"],
    ) ?? null;
    for (const result of ["ok", "failed"]) this.#fetches?.inc({ result }, 0);
  }

  /** A key resolver for jose's jwtVerify: the key for the token's `kid` and `alg`. */
  readonly getKey = async (header: JWSHeaderParameters) => {
    const now = this.#now();
    if (!this.#keys || now - this.#fetchedAt >= this.#refreshMs) await this.#refresh(now);
    if (
      header.kid !== undefined && !this.#kids.has(header.kid) &&
      now - this.#kidRefetchAt >= this.#minRefetchMs
    ) {
      this.#kidRefetchAt = now;
      await this.#refresh(now);
    }
    const keys = this.#usable(this.#now());
    try {
      return await keys(header);
    } catch (e) {
      if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSInvalid) {
        throw new SluiceError(
          "SIGNATURE_INVALID",
          `no key of the issuer matches the token (kid ${JSON.stringify(header.kid ?? null)})`,
          { kid: header.kid ?? null },
        );
      }
      throw e;
    }
  };

  #usable(now: number): KeyResolver {
    if (!this.#keys || now - this.#fetchedAt > this.#maxStaleMs) {
      throw new SluiceError(
        "JWKS_UNAVAILABLE",
        this.#keys
          ? `the identity provider's keys could not be fetched for ${
            Math.round((now - this.#fetchedAt) / 1000)
          } s (longer than the ${Math.round(this.#maxStaleMs / 1000)} s they are trusted)`
          : "the identity provider's keys could not be fetched",
        { source: this.describe() },
      );
    }
    return this.#keys;
  }

  /** Where keys come from, for logs and errors. */
  describe(): string {
    const s = this.#source;
    return s.kind === "file"
      ? `file ${s.path}`
      : s.kind === "url"
      ? s.url
      : `${s.issuer} (discovery)`;
  }

  /** One fetch at a time, and none within `minRefetchMs` of a failed one. */
  #refresh(now: number): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    if (now - this.#failedAt < this.#minRefetchMs) return Promise.resolve();
    this.#refreshing = this.#load().then(
      (jwks) => {
        this.#keys = createLocalJWKSet(jwks);
        this.#kids = new Set(jwks.keys.flatMap((k) => (k.kid === undefined ? [] : [k.kid])));
        this.#fetchedAt = this.#now();
        this.#fetches?.inc({ result: "ok" });
        this.#log.debug("jwks_fetched", { source: this.describe(), keys: jwks.keys.length });
      },
      (e) => {
        this.#fetches?.inc({ result: "failed" });
        this.#failedAt = this.#now();
        // Discovery is asked again next time: the provider may have moved its JWKS.
        this.#jwksUri = null;
        this.#log.warn("jwks_fetch_failed", {
          source: this.describe(),
          error: e,
          keys_age_s: this.#keys ? Math.round((this.#now() - this.#fetchedAt) / 1000) : null,
          max_stale_s: Math.round(this.#maxStaleMs / 1000),
        });
      },
    ).finally(() => (this.#refreshing = null));
    return this.#refreshing;
  }

  async #load(): Promise<JSONWebKeySet> {
    const s = this.#source;
    if (s.kind === "file") return parseJwks(await Deno.readTextFile(s.path), s.path);
    const uri = s.kind === "url" ? s.url : (this.#jwksUri ??= await this.#discover(s.issuer));
    return parseJwks(await this.#get(uri), uri);
  }

  async #discover(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    const doc = JSON.parse(await this.#get(url));
    // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked for.
    if (doc?.issuer !== issuer) {
      throw new Error(`${url} names issuer ${JSON.stringify(doc?.issuer)}, not '${issuer}'`);
    }
    if (typeof doc.jwks_uri !== "string") throw new Error(`${url} has no jwks_uri`);
    return doc.jwks_uri;
  }

  async #get(url: string): Promise<string> {
    const res = await this.#fetch(url, {
      headers: { accept: "application/json" },
      redirect: "error",
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
    return text;
  }
}

function parseJwks(text: string, where: string): JSONWebKeySet {
  const jwks = JSON.parse(text);
  if (!Array.isArray(jwks?.keys)) throw new Error(`${where} is not a JWKS (no "keys" array)`);
  return jwks;
}
