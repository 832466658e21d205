/**
 * Throttle (docs/flow-control.md): at most one job per (queue, owner, key) per window. The
 * first enqueue of a window claims its row in `sluice.throttle_windows`; a later one within
 * the window is answered with the claiming job, as an idempotency duplicate is.
 *
 * Why two concurrent enqueues make one job: the claim is one upsert on the window's primary
 * key. The second waits for the first's row (speculative insertion or the row lock of
 * ON CONFLICT DO UPDATE), then finds a window that has not expired and claims nothing; its
 * next statement sees the first's commit, job id included (set in the same transaction).
 */
import type { Db, Tx } from "../db/connect.ts";
import { recordDecision } from "./decisions.ts";
import type { ThrottleInput } from "./flow_input.ts";

export interface ThrottledRow {
  queue: string;
  key_owner: string;
  created_by: string | null;
  throttle: ThrottleInput | null;
}

/** A row's throttle: it claimed the window, or the window is held by a job (or an earlier row). */
export type Claim =
  | { claimed: true }
  | { claimed: false; holder: string | null; sameAs: number | null; until: Date };

/** Claims the window of every throttled row, in input order; null for rows without throttle. */
export async function claimWindows(
  tx: Tx,
  rows: readonly ThrottledRow[],
): Promise<(Claim | null)[]> {
  const first = new Map<string, number>();
  const out: (Claim | null)[] = [];
  for (const [i, row] of rows.entries()) {
    const t = row.throttle;
    if (t === null) {
      out.push(null);
      continue;
    }
    const id = `${row.queue}\u0000${row.key_owner}\u0000${t.key}`;
    const earlier = first.get(id);
    if (earlier !== undefined) {
      out.push({ claimed: false, holder: null, sameAs: earlier, until: new Date() });
      continue;
    }
    const [won] = await tx<{ until: Date }[]>`
      INSERT INTO sluice.throttle_windows (queue, key_owner, key, job_id, until)
      VALUES (${row.queue}, ${row.key_owner}, ${t.key}, NULL,
        now() + ${t.perMs} * interval '1 millisecond')
      ON CONFLICT (queue, key_owner, key) DO UPDATE SET job_id = NULL, until = EXCLUDED.until
        WHERE throttle_windows.until <= now()
      RETURNING until`;
    if (won) {
      first.set(id, i);
      out.push({ claimed: true });
      continue;
    }
    const [held] = await tx<{ job_id: string | null; until: Date }[]>`
      SELECT job_id, until FROM sluice.throttle_windows
      WHERE queue = ${row.queue} AND key_owner = ${row.key_owner} AND key = ${t.key}`;
    out.push({
      claimed: false,
      holder: held?.job_id == null ? null : String(held.job_id),
      sameAs: null,
      until: held?.until ?? new Date(),
    });
  }
  return out;
}

/** Writes the job that claimed each window. */
export async function recordWindowJobs(
  tx: Tx,
  rows: readonly ThrottledRow[],
  jobIds: readonly (string | null)[],
): Promise<void> {
  for (const [i, row] of rows.entries()) {
    const id = jobIds[i];
    if (row.throttle === null || id == null) continue;
    await tx`
      UPDATE sluice.throttle_windows SET job_id = ${id}
      WHERE queue = ${row.queue} AND key_owner = ${row.key_owner} AND key = ${row.throttle.key}`;
  }
}

/** The decisions-log row of an enqueue the throttle answered with an earlier job. */
export async function recordThrottled(
  tx: Tx,
  row: ThrottledRow,
  holder: string,
  until: Date,
): Promise<void> {
  await recordDecision(tx, {
    queue: row.queue,
    code: "THROTTLED",
    detail: `throttle key ${row.throttle?.key}: answered with job ${holder}, the window's job, ` +
      `until ${until.toISOString()}`,
    tokenName: row.created_by,
  });
}

/** Drops windows that ended before `cutoff` (the pruner's pass): they answer nothing. */
export async function pruneThrottleWindows(sql: Db, cutoff: Date): Promise<number> {
  const rows = await sql`DELETE FROM sluice.throttle_windows WHERE until < ${cutoff} RETURNING 1`;
  return rows.length;
}
