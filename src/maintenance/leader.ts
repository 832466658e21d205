/**
 * Leader election for maintenance: one row in `sluice.maintenance_leader`. A process leads while
 * it holds the row and `expires_at` is in the future; it renews every third of the TTL. Anyone
 * may take the row once it expired, so after a kill -9 of the leader another process takes over
 * within one TTL. Only PostgreSQL's clock (or an injected `now` in tests) decides expiry.
 *
 * The services themselves stay safe if two leaders ever overlap (a pass longer than the TTL on a
 * stalled leader): every one of them locks its rows with SKIP LOCKED or fires in a transaction
 * on the row it changes, so an overlap costs duplicate work, never a duplicate effect.
 */
import type { Db, Sql } from "../db/connect.ts";

export interface Leadership {
  leader: boolean;
  holder: string | null;
  term: number | null;
  expiresAt: Date | null;
}

/** Takes or renews the lease; `leader` says whether `holder` leads now. */
export async function acquireLeadership(
  sql: Sql,
  holder: string,
  ttlMs: number,
  { now = null }: { now?: Date | null } = {},
): Promise<Leadership> {
  const [won] = await sql<{ holder: string; term: string; expires_at: Date }[]>`
    INSERT INTO sluice.maintenance_leader AS l (id, holder, term, acquired_at, expires_at)
    VALUES (1, ${holder}, 1, coalesce(${now}::timestamptz, now()),
      coalesce(${now}::timestamptz, now()) + ${ttlMs} * interval '1 millisecond')
    ON CONFLICT (id) DO UPDATE SET
      holder = excluded.holder,
      term = CASE WHEN l.holder = excluded.holder THEN l.term ELSE l.term + 1 END,
      acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at
        ELSE excluded.acquired_at END,
      expires_at = excluded.expires_at
    WHERE l.holder = excluded.holder OR l.expires_at < coalesce(${now}::timestamptz, now())
    RETURNING holder, term, expires_at`;
  if (won) {
    return { leader: true, holder: won.holder, term: Number(won.term), expiresAt: won.expires_at };
  }
  const current = await getLeader(sql);
  return {
    leader: false,
    holder: current?.holder ?? null,
    term: current?.term ?? null,
    expiresAt: current?.expiresAt ?? null,
  };
}

/** Gives the lease up at once (graceful stop), so a standby need not wait for the TTL. */
export async function releaseLeadership(sql: Sql, holder: string): Promise<void> {
  await sql`
    UPDATE sluice.maintenance_leader SET expires_at = now() - interval '1 millisecond'
    WHERE holder = ${holder}`;
}

export interface LeaderRecord {
  holder: string;
  term: number;
  acquiredAt: Date;
  expiresAt: Date;
  /** False once the lease has run out (the leader is gone or stalled). */
  live: boolean;
}

export async function getLeader(sql: Db): Promise<LeaderRecord | null> {
  const [r] = await sql<
    { holder: string; term: string; acquired_at: Date; expires_at: Date; live: boolean }[]
  >`SELECT holder, term, acquired_at, expires_at, expires_at > now() AS live
    FROM sluice.maintenance_leader WHERE id = 1`;
  return r
    ? {
      holder: r.holder,
      term: Number(r.term),
      acquiredAt: r.acquired_at,
      expiresAt: r.expires_at,
      live: r.live,
    }
    : null;
}
