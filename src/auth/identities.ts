/**
 * Workload identities (`sluice.identities`, migrations/0012): an OIDC issuer + subject, or
 * issuer + email, granted one scope. Holding a valid ID token grants nothing by itself: the
 * api accepts it only for a principal with a live row here (src/api/id_token_auth.ts).
 */
import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { assertScope, type Scope } from "./tokens.ts";

/**
 * Prefix of an identity's caller name (created_by, job ownership, rate limits, logs). Token
 * names cannot hold '/', so `identity/ci` never equals the name of a token.
 */
export const IDENTITY_PREFIX = "identity/";

export interface IdentityRecord {
  id: string;
  name: string;
  issuer: string;
  subject: string | null;
  email: string | null;
  scope: Scope;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface IdentityRow {
  id: string;
  name: string;
  issuer: string;
  subject: string | null;
  email: string | null;
  scope: Scope;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** What a verified ID token says about its bearer. */
export interface Principal {
  issuer: string;
  subject: string;
  /** Only when the token says `email_verified: true`; an unverified email matches nothing. */
  verifiedEmail: string | null;
}

/** The live grant a principal holds (its caller name is IDENTITY_PREFIX + name). */
export interface Grant {
  id: string;
  name: string;
  scope: Scope;
}

// Subjects such as `repo:org/app:ref:refs/heads/main` or `system:serviceaccount:ns:sa` are
// valid names, so a name defaults to the subject or email.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$/;

function toRecord(r: IdentityRow): IdentityRecord {
  return {
    id: String(r.id),
    name: r.name,
    issuer: r.issuer,
    subject: r.subject,
    email: r.email,
    scope: r.scope,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  };
}

function invalid(message: string, details: Record<string, unknown>): never {
  throw new SluiceError("VALIDATION_FAILED", message, details);
}

/** The issuer as tokens carry it in `iss`: an https URL (http only for loopback, in tests). */
export function assertIssuer(issuer: unknown): string {
  let url: URL | null = null;
  try {
    url = typeof issuer === "string" ? new URL(issuer) : null;
  } catch { /* reported below */ }
  const loopback = url && ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && loopback))) {
    invalid(
      `issuer ${JSON.stringify(issuer)} is not an https URL (http is accepted for loopback only)`,
      { issuer },
    );
  }
  return issuer as string;
}

export interface IdentityInput {
  issuer: string;
  subject?: string | null;
  email?: string | null;
  scope: Scope;
  name?: string | null;
}

/** Grants `scope` to the principal; CONFLICT when the name or the principal already has one. */
export async function addIdentity(sql: Db, input: IdentityInput): Promise<IdentityRecord> {
  const issuer = assertIssuer(input.issuer);
  const scope = assertScope(input.scope);
  const subject = input.subject || null;
  const email = input.email ? input.email.toLowerCase() : null;
  if ((subject === null) === (email === null)) {
    invalid("give exactly one of subject or email", { subject, email });
  }
  if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email)) {
    invalid(`email '${email}' is not an email address`, { email });
  }
  const name = input.name || email || subject!;
  if (!NAME.test(name)) {
    invalid(
      `identity name ${
        JSON.stringify(name)
      } is invalid: use 1 to 128 letters, digits, '.', '_', ':', '@', '/', '+' or '-' (pass --name)`,
      { name },
    );
  }
  const rows = await sql<IdentityRow[]>`
    INSERT INTO sluice.identities (name, issuer, subject, email, scope)
    VALUES (${name}, ${issuer}, ${subject}, ${email}, ${scope})
    ON CONFLICT DO NOTHING
    RETURNING id, name, issuer, subject, email, scope, created_at, last_used_at, revoked_at`;
  if (!rows[0]) {
    throw new SluiceError(
      "CONFLICT",
      `a live identity named '${name}' or for this ${subject ? "subject" : "email"} already exists`,
      { name, issuer, subject, email },
    );
  }
  return toRecord(rows[0]);
}

export async function listIdentities(sql: Db): Promise<IdentityRecord[]> {
  const rows = await sql<IdentityRow[]>`
    SELECT id, name, issuer, subject, email, scope, created_at, last_used_at, revoked_at FROM sluice.identities ORDER BY id`;
  return rows.map(toRecord);
}

/** Revokes the live identity `name` (the api stops accepting it within its cache delay). */
export async function revokeIdentity(sql: Db, name: string): Promise<IdentityRecord> {
  const rows = await sql<IdentityRow[]>`
    UPDATE sluice.identities SET revoked_at = now()
    WHERE name = ${name} AND revoked_at IS NULL
    RETURNING id, name, issuer, subject, email, scope, created_at, last_used_at, revoked_at`;
  return revoked(rows, { name });
}

/** Revokes identity `id` (the API's route: names may hold '/'); a revoked one stays as it is. */
export async function revokeIdentityById(sql: Db, id: string): Promise<IdentityRecord> {
  const rows = await sql<IdentityRow[]>`
    UPDATE sluice.identities SET revoked_at = coalesce(revoked_at, now())
    WHERE id = ${id}
    RETURNING id, name, issuer, subject, email, scope, created_at, last_used_at, revoked_at`;
  return revoked(rows, { id });
}

function revoked(rows: IdentityRow[], which: { name?: string; id?: string }): IdentityRecord {
  if (!rows[0]) {
    throw new SluiceError(
      "IDENTITY_NOT_FOUND",
      which.name ? `no live identity is named '${which.name}'` : `no identity has id ${which.id}`,
      which,
    );
  }
  return toRecord(rows[0]);
}

/**
 * The live grant of a principal, or null. A subject grant wins over an email grant: the
 * subject is the issuer's stable key, an email can move between accounts.
 */
export async function findGrant(sql: Db, p: Principal): Promise<Grant | null> {
  const [row] = await sql<{ id: string; name: string; scope: Scope }[]>`
    SELECT id, name, scope FROM sluice.identities
    WHERE revoked_at IS NULL AND issuer = ${p.issuer}
      AND (subject = ${p.subject} OR email = ${p.verifiedEmail?.toLowerCase() ?? null})
    ORDER BY subject IS NULL
    LIMIT 1`;
  return row ? { id: String(row.id), name: row.name, scope: row.scope } : null;
}

/** Records use of many identities in one statement (batched like tokens' last_used_at). */
export async function touchIdentities(sql: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`
    UPDATE sluice.identities SET last_used_at = now()
    WHERE id = ANY(${ids as string[]}::bigint[])`;
}
