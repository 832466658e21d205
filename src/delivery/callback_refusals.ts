/**
 * Refused callbacks (`sluice.callback_refusals`, migrations/0010): a refused callback changes
 * nothing and leaves no `callback_events` row, yet the runbook's callback_failure_ratio counts
 * it, because a receiver whose callbacks are all refused (a rotated secret, a skewed clock) is
 * as broken as one reporting failures. Counted per minute and error code: a flood of forged
 * requests costs one row a minute, and the row lock is held for one statement.
 */
import type { Db } from "../db/connect.ts";

export async function recordCallbackRefusal(sql: Db, code: string): Promise<void> {
  await sql`
    INSERT INTO sluice.callback_refusals (minute, code, n)
    VALUES (date_trunc('minute', now()), ${code}, 1)
    ON CONFLICT (minute, code) DO UPDATE SET n = sluice.callback_refusals.n + 1`;
}

/**
 * Refusals counted in the minutes that overlap (from, to]: minute granularity, so a 10-minute
 * window reads up to one extra minute at its start.
 */
export async function countCallbackRefusals(sql: Db, from: Date, to: Date): Promise<number> {
  const [r] = await sql<[{ n: number }]>`
    SELECT coalesce(sum(n), 0)::int AS n FROM sluice.callback_refusals
    WHERE minute > date_trunc('minute', ${from}::timestamptz) - interval '1 minute'
      AND minute <= ${to}`;
  return r.n;
}
