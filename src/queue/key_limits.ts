/**
 * Keyed concurrency (docs/flow-control.md): a queue's `keyConcurrency: N` lets at most N jobs
 * with the same `concurrencyKey` run at once, across every worker and process.
 *
 * Why it holds under concurrency: a keyed queue always leases through `leaseLimited`
 * (lease.ts), which takes the queue's transaction-scoped advisory lock first, so two leases of
 * one queue never overlap. The pick below is then one statement: its snapshot, taken after the
 * lock, sees every earlier lease of the queue (committed before the lock was handed on) and
 * every completion committed so far, so `running` can only over-count (a completion committing
 * meanwhile), never under-count. Nothing but a lease makes a job `running`.
 *
 * Fairness: jobs are ranked within their key (in delivery order) and picked by
 * priority, then rank, then how long ago the key was last served (`sluice.key_turns`, never
 * served first), so one lease takes the first job of every key before the second of any, and
 * the next lease starts with the keys the last one did not reach: round robin across turns. A
 * hot key with 10,000 waiting jobs gets one slot per turn like each cold key, not all of them.
 * Jobs without a key rank as one key of their own (stored as '') and are not limited per key.
 */
import type { Db } from "../db/connect.ts";

/**
 * Jobs further back than this in delivery order are not looked at for a job without any key
 * (enqueued before the queue had keyConcurrency; newer ones carry the key '').
 */
const UNKEYED_WINDOW = 1_000;

/**
 * The `picked` relation of a keyed lease: ids of up to `max` jobs that fit under the limit.
 * Its cost grows with the number of distinct waiting keys, not of waiting jobs: a skip scan
 * over `jobs_key_available_idx` finds each waiting key with one index probe, and each key
 * gives at most its free slots, in delivery order, through another.
 */
export function keyedPick(sql: Db, queue: string, limit: number, max: number) {
  return sql`
      WITH RECURSIVE keys(k) AS (
        SELECT min(concurrency_key) FROM sluice.jobs
        WHERE state = 'available' AND queue = ${queue} AND concurrency_key IS NOT NULL
        UNION ALL
        SELECT (
          SELECT min(concurrency_key) FROM sluice.jobs
          WHERE state = 'available' AND queue = ${queue} AND concurrency_key IS NOT NULL
            AND concurrency_key > keys.k
        ) FROM keys WHERE keys.k IS NOT NULL
      ),
      running AS (
        SELECT concurrency_key AS k, count(*)::int AS n FROM sluice.jobs
        WHERE state = 'running' AND queue = ${queue} AND concurrency_key IS NOT NULL
        GROUP BY concurrency_key
      ),
      candidates AS (
        SELECT c.id, c.priority, c.run_at, c.rn, t.served_at
        FROM keys
        LEFT JOIN running r ON r.k = keys.k
        LEFT JOIN sluice.key_turns t ON t.queue = ${queue} AND t.key = keys.k
        CROSS JOIN LATERAL (
          SELECT id, priority, run_at,
            row_number() OVER (ORDER BY priority DESC, run_at, id) AS rn
          FROM (
            SELECT id, priority, run_at FROM sluice.jobs
            WHERE state = 'available' AND queue = ${queue} AND concurrency_key = keys.k
            ORDER BY priority DESC, run_at, id
            LIMIT CASE WHEN keys.k = '' THEN ${max}::int
              ELSE least(greatest(${limit}::int - coalesce(r.n, 0), 0), ${max}::int) END
          ) top
        ) c
        WHERE keys.k IS NOT NULL
        UNION ALL
        SELECT id, priority, run_at,
          row_number() OVER (ORDER BY priority DESC, run_at, id) AS rn, NULL
        FROM (
          SELECT id, priority, run_at, concurrency_key FROM sluice.jobs
          WHERE state = 'available' AND queue = ${queue}
          ORDER BY priority DESC, run_at, id
          LIMIT ${UNKEYED_WINDOW}
        ) front
        WHERE front.concurrency_key IS NULL
      )
      SELECT id FROM candidates
      WHERE NOT EXISTS (SELECT 1 FROM sluice.queues WHERE name = ${queue} AND paused)
      ORDER BY priority DESC, rn, served_at NULLS FIRST, run_at, id
      LIMIT ${max}`;
}

/** Marks the keys of just-leased jobs as served now (same transaction as the lease). */
export async function markServed(sql: Db, queue: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`
    INSERT INTO sluice.key_turns (queue, key, served_at)
    SELECT ${queue}::text, k, clock_timestamp() FROM (
      SELECT DISTINCT concurrency_key AS k FROM sluice.jobs
      WHERE id = ANY(${ids as string[]}::bigint[]) AND concurrency_key IS NOT NULL
    ) served
    ON CONFLICT (queue, key) DO UPDATE SET served_at = EXCLUDED.served_at`;
}

/**
 * Drops the turns of keys not served since `cutoff` (the pruner's pass): such a key then counts
 * as never served, which it may as well be.
 */
export async function pruneKeyTurns(sql: Db, cutoff: Date): Promise<number> {
  const rows = await sql`DELETE FROM sluice.key_turns WHERE served_at < ${cutoff} RETURNING 1`;
  return rows.length;
}

/** The running jobs of one key in one queue, oldest lease first (explain, ops). */
export async function runningForKey(
  sql: Db,
  queue: string,
  key: string,
): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    SELECT id FROM sluice.jobs
    WHERE state = 'running' AND queue = ${queue} AND concurrency_key = ${key}
    ORDER BY leased_at, id`;
  return rows.map((r) => String(r.id));
}

/**
 * KEY_AT_LIMIT for an available job whose key already runs `limit` jobs, or null. Listing at
 * most five ids keeps the sentence short; `facts.running` has the count.
 */
export async function explainKeyLimit(
  sql: Db,
  job: { id: string; queue: string; concurrencyKey: string | null },
  limit: number | null,
): Promise<{ code: string; sentence: string; facts: Record<string, unknown> } | null> {
  if (limit === null || job.concurrencyKey === null) return null;
  const running = await runningForKey(sql, job.queue, job.concurrencyKey);
  if (running.length < limit) return null;
  const shown = running.slice(0, 5).join(", ") + (running.length > 5 ? ", …" : "");
  return {
    code: "KEY_AT_LIMIT",
    sentence:
      `Job ${job.id} waits: ${job.concurrencyKey} has ${running.length} of ${limit} running: jobs ${shown}. It starts when one of them finishes.`,
    facts: {
      queue: job.queue,
      concurrencyKey: job.concurrencyKey,
      running: running.length,
      keyConcurrency: limit,
      runningJobs: running.slice(0, 100),
    },
  };
}
