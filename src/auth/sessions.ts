/**
 * Ops page sessions (`sluice.sessions`): one row per sign-in, keyed by the nonce its signed
 * cookie carries (src/api/session.ts). Revocation is a column, so it holds in every api process
 * and across restarts; a revoked token's sessions are ended with it.
 */
import type { Db } from "../db/connect.ts";
import type { Scope } from "./scope.ts";

/** How long an expired row is kept (so its cookie still reads as "expired", not unknown). */
const KEEP_EXPIRED = "1 day";

export type SessionLookup =
  | { state: "live"; token: { id: string; name: string; scope: Scope } }
  | { state: "signed_out" }
  | { state: "token_revoked" }
  | { state: "unknown" };

/**
 * Records a session for the live token whose hash is `tokenHash`; false when there is none
 * (revoked between the check and now). Deletes sessions expired for a day on the way: sign-ins
 * are rare, so this keeps the table small without a maintenance service.
 */
export async function createSession(
  sql: Db,
  { id, tokenHash, expiresAt }: { id: string; tokenHash: string; expiresAt: Date },
): Promise<boolean> {
  await sql`DELETE FROM sluice.sessions WHERE expires_at < now() - ${KEEP_EXPIRED}::interval`;
  const rows = await sql`
    INSERT INTO sluice.sessions (id, token_id, expires_at)
    SELECT ${id}, id, ${expiresAt} FROM sluice.tokens
    WHERE hash = ${tokenHash} AND revoked_at IS NULL
    RETURNING id`;
  return rows.length === 1;
}

/**
 * What a cookie's session is now. `tokenHash` is the hash the cookie was issued for: a token
 * whose hash changed since (a rotated bootstrap token) ends its sessions like a revocation.
 */
export async function lookupSession(
  sql: Db,
  { id, tokenHash }: { id: string; tokenHash: string },
): Promise<SessionLookup> {
  const [row] = await sql<
    {
      revoked_reason: "signed_out" | "token_revoked" | null;
      token_id: string;
      name: string;
      scope: Scope;
      token_live: boolean;
    }[]
  >`
    SELECT s.revoked_reason, t.id AS token_id, t.name, t.scope,
      (t.revoked_at IS NULL AND t.hash = ${tokenHash}) AS token_live
    FROM sluice.sessions s JOIN sluice.tokens t ON t.id = s.token_id
    WHERE s.id = ${id} AND s.expires_at > now()`;
  if (!row) return { state: "unknown" };
  if (row.revoked_reason === "token_revoked" || !row.token_live) return { state: "token_revoked" };
  if (row.revoked_reason === "signed_out") return { state: "signed_out" };
  return {
    state: "live",
    token: { id: String(row.token_id), name: row.name, scope: row.scope },
  };
}

/** Sign-out: the session stays ended whichever api process sees its cookie next. */
export async function endSession(sql: Db, id: string): Promise<void> {
  await sql`
    UPDATE sluice.sessions SET revoked_at = now(), revoked_reason = 'signed_out'
    WHERE id = ${id} AND revoked_at IS NULL`;
}

/** Ends every session signed in with the token `tokenId`; the number ended. */
export async function endTokenSessions(sql: Db, tokenId: string): Promise<number> {
  const rows = await sql`
    UPDATE sluice.sessions SET revoked_at = now(), revoked_reason = 'token_revoked'
    WHERE token_id = ${tokenId} AND revoked_at IS NULL
    RETURNING id`;
  return rows.length;
}
