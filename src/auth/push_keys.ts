/**
 * The keys Sluice signs its push ID tokens with (`sluice.push_signing_keys`, migrations/0012).
 *
 * - ES256: small tokens, fast to sign (a push mints one), verified by every JWT library.
 * - Kept in the database so every worker signs with the same key and the api publishes it
 *   (`/.well-known/jwks.json`) without a shared file. Created on first use.
 * - The private key is encrypted at rest with AES-256-GCM under a key derived (HKDF-SHA256)
 *   from SLUICE_PUSH_KEY_SECRET when that is set, the row's kid bound as associated data so a
 *   ciphertext cannot be moved to another row. Without it the private JWK is stored as plain
 *   JSON: anyone who can read the table (or a backup) can then mint push tokens, which the
 *   worker says once at start (`push_signing_key_unencrypted`) and `sluice config check` shows.
 * - The newest key (by creation) whose `signs_from` has come signs; a rotation within another's
 *   activation never brings the older one back.
 * - Rotation publishes the new key `activateAfterMs` (default 2 minutes) before it signs: longer
 *   than the api's JWKS cache (10 s) and the `max-age` it answers with (60 s), so no receiver
 *   meets a kid its key set lacks. The old keys stay published until every token they signed
 *   has expired. A compromised key is rotated with `compromised`: the new key signs at once and
 *   the old ones are unpublished at once (tokens they signed stop verifying).
 */
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { Buffer } from "node:buffer";
import type { Db, Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";

export const PUSH_ALG = "ES256";
const ENVELOPE = "enc:v1:";

export interface PushSigningKey {
  kid: string;
  privateKey: CryptoKey;
}

export interface PushKeyRecord {
  kid: string;
  alg: string;
  createdAt: string;
  signsFrom: string;
  /** Null while the key is the newest one. */
  publishedUntil: string | null;
  encrypted: boolean;
}

interface KeyRow {
  kid: string;
  alg: string;
  public_jwk: JWK;
  private_jwk: string;
  created_at: Date;
  signs_from: Date;
  published_until: Date | null;
}

async function aesKey(secret: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    "HKDF",
    false,
    ["deriveKey"],
  );
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: new TextEncoder().encode("sluice push signing key v1"),
    },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

async function seal(jwk: JWK, kid: string, secret: string | null): Promise<string> {
  const text = JSON.stringify(jwk);
  if (!secret) return text;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(kid) },
    await aesKey(secret),
    new TextEncoder().encode(text),
  );
  const b64 = (b: ArrayBuffer | Uint8Array) => Buffer.from(b as ArrayBuffer).toString("base64url");
  return `${ENVELOPE}${b64(iv)}:${b64(ct)}`;
}

async function open(stored: string, kid: string, secret: string | null): Promise<JWK> {
  if (!stored.startsWith(ENVELOPE)) return JSON.parse(stored);
  if (!secret) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `push signing key '${kid}' is encrypted: set SLUICE_PUSH_KEY_SECRET to the secret it was stored with`,
      { kid },
    );
  }
  const [iv, ct] = stored.slice(ENVELOPE.length).split(":");
  try {
    const text = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: Buffer.from(iv ?? "", "base64url"),
        additionalData: new TextEncoder().encode(kid),
      },
      await aesKey(secret),
      Buffer.from(ct ?? "", "base64url"),
    );
    return JSON.parse(new TextDecoder().decode(text));
  } catch {
    throw new SluiceError(
      "CONFIG_INVALID",
      `SLUICE_PUSH_KEY_SECRET does not decrypt push signing key '${kid}' (was the secret changed?)`,
      { kid },
    );
  }
}

async function newKeyRow(secret: string | null) {
  const { publicKey, privateKey } = await generateKeyPair(PUSH_ALG, { extractable: true });
  const kid = `sluice-${crypto.randomUUID()}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: PUSH_ALG, use: "sig" };
  return { kid, publicJwk, privateText: await seal(await exportJWK(privateKey), kid, secret) };
}

function toRecord(r: KeyRow): PushKeyRecord {
  return {
    kid: r.kid,
    alg: r.alg,
    createdAt: r.created_at.toISOString(),
    signsFrom: r.signs_from.toISOString(),
    publishedUntil: r.published_until?.toISOString() ?? null,
    encrypted: r.private_jwk.startsWith(ENVELOPE),
  };
}

const SIGNING = (sql: Db) =>
  sql<KeyRow[]>`
    SELECT * FROM sluice.push_signing_keys
    WHERE signs_from <= now() AND (published_until IS NULL OR published_until > now())
    ORDER BY created_at DESC LIMIT 1`;

/**
 * The key that signs now, created if there is none. Two workers creating the first one at
 * once: the unique index on the newest key lets one insert win, and both read the winner.
 */
export async function activeSigningKey(sql: Db, secret: string | null): Promise<PushSigningKey> {
  let [row] = await SIGNING(sql);
  if (!row) {
    const k = await newKeyRow(secret);
    await sql`
      INSERT INTO sluice.push_signing_keys (kid, alg, public_jwk, private_jwk)
      VALUES (${k.kid}, ${PUSH_ALG}, ${sql.json(k.publicJwk)}, ${k.privateText})
      ON CONFLICT DO NOTHING`;
    [row] = await SIGNING(sql);
  }
  if (!row) {
    throw new SluiceError(
      "CONFIG_INVALID",
      "no push signing key signs now (a rotation's new key is not active yet and the old one is unpublished)",
    );
  }
  const jwk = await open(row.private_jwk, row.kid, secret);
  return { kid: row.kid, privateKey: (await importJWK(jwk, PUSH_ALG)) as CryptoKey };
}

export interface RotateOptions {
  secret: string | null;
  /** The longest lifetime of a push token: old keys stay published this long after the switch. */
  tokenLifetimeMs: number;
  /** How long the new key is published before it signs; default 2 minutes. */
  activateAfterMs?: number;
  /** The old keys are unpublished now and the new key signs now. */
  compromised?: boolean;
}

/** Old keys stay published this much longer than the last token they signed may live. */
const PUBLISH_MARGIN_MS = 600_000;

/**
 * Adds a new key that signs from `activateAfterMs` on, and schedules the end of publication of
 * the keys before it. One transaction: there is always a key that signs.
 */
export async function rotateSigningKey(
  sql: Sql,
  { secret, tokenLifetimeMs, activateAfterMs = 120_000, compromised = false }: RotateOptions,
): Promise<{ retired: PushKeyRecord[]; next: PushKeyRecord }> {
  const k = await newKeyRow(secret);
  const keepMs = compromised ? 0 : activateAfterMs + tokenLifetimeMs + PUBLISH_MARGIN_MS;
  return await sql.begin(async (tx) => {
    const retired = await tx<KeyRow[]>`
      UPDATE sluice.push_signing_keys
      SET published_until = CASE WHEN ${compromised} THEN now()
        ELSE now() + ${keepMs} * interval '1 ms' END
      WHERE published_until IS NULL OR (${compromised} AND published_until > now())
      RETURNING *`;
    // No key before it: nothing signs meanwhile, so the first key signs at once.
    const activateMs = compromised || retired.length === 0 ? 0 : activateAfterMs;
    const [next] = await tx<KeyRow[]>`
      INSERT INTO sluice.push_signing_keys (kid, alg, public_jwk, private_jwk, signs_from)
      VALUES (${k.kid}, ${PUSH_ALG}, ${tx.json(k.publicJwk)}, ${k.privateText},
        now() + ${activateMs} * interval '1 ms')
      RETURNING *`;
    return { retired: retired.map(toRecord), next: toRecord(next!) };
  });
}

/** Every key a receiver may meet: the signing one, the next one, and old ones still valid. */
export async function publishedKeys(sql: Db): Promise<JWK[]> {
  const rows = await sql<{ public_jwk: JWK }[]>`
    SELECT public_jwk FROM sluice.push_signing_keys
    WHERE published_until IS NULL OR published_until > now()
    ORDER BY created_at DESC`;
  return rows.map((r) => r.public_jwk);
}

export async function listSigningKeys(sql: Db): Promise<PushKeyRecord[]> {
  const rows = await sql<KeyRow[]>`
    SELECT * FROM sluice.push_signing_keys ORDER BY created_at`;
  return rows.map(toRecord);
}
