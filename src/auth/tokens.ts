/**
 * API tokens (`sluice.tokens`): random secrets shown once, stored as SHA-256 hex, with a scope.
 * Lookups go by the digest of the presented token, so neither the database index nor any
 * comparison ever sees or times the secret's own bytes.
 */
import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { type Scope, SCOPES } from "./scope.ts";
import { endTokenSessions } from "./sessions.ts";

export { type Scope, SCOPES } from "./scope.ts";

export const TOKEN_PREFIX = "sluice_";
/** The name `SLUICE_BOOTSTRAP_TOKEN` is stored under. */
export const BOOTSTRAP_TOKEN_NAME = "bootstrap";

export interface TokenRecord {
  id: string;
  name: string;
  scope: Scope;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface TokenRow {
  id: string;
  name: string;
  scope: Scope;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

function toRecord(r: TokenRow): TokenRecord {
  return {
    id: String(r.id),
    name: r.name,
    scope: r.scope,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}

/** `sluice_` + 32 base62 characters: about 190 bits from the platform CSPRNG. */
export function generateToken(): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const out: string[] = [];
  // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
  while (out.length < 32) {
    for (const b of crypto.getRandomValues(new Uint8Array(48))) {
      if (b < 248 && out.length < 32) out.push(alphabet[b % 62]!);
    }
  }
  return TOKEN_PREFIX + out.join("");
}

export async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function assertScope(scope: unknown): Scope {
  if (!SCOPES.includes(scope as Scope)) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `scope ${JSON.stringify(scope)} is not one of ${SCOPES.join(", ")}`,
      { scope },
    );
  }
  return scope as Scope;
}

function assertName(name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `token name ${
        JSON.stringify(name)
      } is invalid: use 1 to 64 letters, digits, '.', '_', ':' or '-'`,
      { name },
    );
  }
  return name;
}

/** Creates a token; the returned `token` is the only time the secret exists outside the caller. */
export async function createToken(
  sql: Db,
  { name, scope }: { name: string; scope: Scope },
): Promise<{ token: string; record: TokenRecord }> {
  assertName(name);
  assertScope(scope);
  const token = generateToken();
  const rows = await sql<TokenRow[]>`
    INSERT INTO sluice.tokens (name, scope, hash) VALUES (${name}, ${scope}, ${await hashToken(
    token,
  )})
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name, scope, created_at, last_used_at, revoked_at`;
  if (!rows[0]) {
    throw new SluiceError("CONFLICT", `a token named '${name}' already exists`, { name });
  }
  return { token, record: toRecord(rows[0]) };
}

/**
 * Stores `SLUICE_BOOTSTRAP_TOKEN` as the admin token `bootstrap`. A changed value replaces the
 * old hash (rotation); the same value keeps its revocation, so revoking it sticks across
 * restarts until the environment changes.
 */
export async function upsertBootstrapToken(sql: Db, token: string): Promise<void> {
  const [row] = await sql<{ id: string; replaced: boolean }[]>`
    WITH old AS (SELECT hash FROM sluice.tokens WHERE name = ${BOOTSTRAP_TOKEN_NAME})
    INSERT INTO sluice.tokens (name, scope, hash)
    VALUES (${BOOTSTRAP_TOKEN_NAME}, 'admin', ${await hashToken(token)})
    ON CONFLICT (name) DO UPDATE SET
      scope = 'admin',
      revoked_at = CASE WHEN sluice.tokens.hash = excluded.hash THEN sluice.tokens.revoked_at END,
      hash = excluded.hash
    RETURNING id, coalesce((SELECT hash FROM old) <> hash, false) AS replaced`;
  // The old value's ops page sessions end with it, and stay ended should it ever come back.
  if (row?.replaced) await endTokenSessions(sql, String(row.id));
}

export async function listTokens(sql: Db): Promise<TokenRecord[]> {
  const rows = await sql<TokenRow[]>`
    SELECT id, name, scope, created_at, last_used_at, revoked_at FROM sluice.tokens ORDER BY id`;
  return rows.map(toRecord);
}

/**
 * Revokes a token and ends the ops page sessions signed in with it (which the api then answers
 * with 401 TOKEN_REVOKED, so the page can say why it signed out).
 */
export async function revokeToken(sql: Db, name: string): Promise<TokenRecord> {
  const rows = await sql<TokenRow[]>`
    UPDATE sluice.tokens SET revoked_at = coalesce(revoked_at, now()) WHERE name = ${name}
    RETURNING id, name, scope, created_at, last_used_at, revoked_at`;
  if (!rows[0]) {
    throw new SluiceError("TOKEN_NOT_FOUND", `no token is named '${name}'`, { name });
  }
  // A second statement is enough: a session whose token is revoked is refused by its join to
  // the token anyway; marking the sessions makes the end stick (see upsertBootstrapToken).
  await endTokenSessions(sql, String(rows[0].id));
  return toRecord(rows[0]);
}

export async function hasActiveAdminToken(sql: Db): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM sluice.tokens WHERE scope = 'admin' AND revoked_at IS NULL) AS ok`;
  return row?.ok ?? false;
}

/** The live (not revoked) token with this digest, or null. */
export async function findTokenByHash(
  sql: Db,
  hash: string,
): Promise<{ id: string; name: string; scope: Scope } | null> {
  const [row] = await sql<{ id: string; name: string; scope: Scope }[]>`
    SELECT id, name, scope FROM sluice.tokens WHERE hash = ${hash} AND revoked_at IS NULL`;
  return row ? { id: String(row.id), name: row.name, scope: row.scope } : null;
}

/** Records use of many tokens in one statement (the api batches these every few seconds). */
export async function touchTokens(sql: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`UPDATE sluice.tokens SET last_used_at = now() WHERE id = ANY(${ids as string[]}::bigint[])`;
}
