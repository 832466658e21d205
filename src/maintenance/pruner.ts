import type { Sql } from "../db/connect.ts";

/**
 * Deletes history older than `olderThanMs` (SLUICE_PRUNE_HISTORY_AFTER), in batches:
 * - archived jobs (succeeded jobs already moved out by the archiver);
 * - dead and cancelled jobs still in sluice.jobs: the DLQ keeps a job for the same horizon,
 *   long enough to replay it, then it goes (a replayed copy is a new job and lives on);
 * - alert events, policy decisions and callback events (the latter two come from the api and
 *   delivery parts; skipped when their table does not exist).
 * Unfinished jobs are never deleted, whatever their age.
 */
export async function pruneHistory(
  sql: Sql,
  { olderThanMs, batchSize = 5_000, now = null }: {
    olderThanMs: number;
    batchSize?: number;
    now?: Date | null;
  },
): Promise<Record<string, number>> {
  const [{ cutoff }] = await sql<[{ cutoff: Date }]>`
    SELECT coalesce(${now}::timestamptz, now()) - ${olderThanMs} * interval '1 millisecond'
      AS cutoff`;
  const drain = async (step: () => Promise<number>) => {
    let total = 0;
    for (;;) {
      const n = await step();
      total += n;
      if (n < batchSize) return total;
    }
  };
  const archive = await drain(async () =>
    (await sql`
      DELETE FROM sluice.jobs_archive WHERE id IN (
        SELECT id FROM sluice.jobs_archive WHERE finished_at < ${cutoff}
        ORDER BY finished_at LIMIT ${batchSize})
      RETURNING 1`).length
  );
  const finished = await drain(async () =>
    (await sql`
      DELETE FROM sluice.jobs WHERE id IN (
        SELECT id FROM sluice.jobs
        WHERE state IN ('dead', 'cancelled') AND finished_at < ${cutoff}
        ORDER BY finished_at LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED)
      RETURNING 1`).length
  );
  const alertEvents = await drain(async () =>
    (await sql`
      DELETE FROM sluice.alert_events WHERE id IN (
        SELECT id FROM sluice.alert_events WHERE at < ${cutoff} ORDER BY at LIMIT ${batchSize})
      RETURNING 1`).length
  );
  const out: Record<string, number> = { archive, finished, alert_events: alertEvents };
  for (const table of ["policy_decisions", "callback_events"]) {
    const column = await timeColumnOf(sql, table);
    if (!column) continue;
    out[table] = await drain(async () =>
      (await sql`
        DELETE FROM ${sql("sluice")}.${sql(table)} WHERE ctid IN (
          SELECT ctid FROM ${sql("sluice")}.${sql(table)} WHERE ${sql(column)} < ${cutoff}
          LIMIT ${batchSize})
        RETURNING 1`).length
    );
  }
  return out;
}

/**
 * The timestamp column a history table from another part is pruned by, or null when the table
 * does not exist (yet): the first of these names that it has.
 */
async function timeColumnOf(sql: Sql, table: string): Promise<string | null> {
  const [r] = await sql<{ column_name: string }[]>`
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = 'sluice' AND table_name = ${table}
      AND column_name IN ('created_at', 'decided_at', 'received_at', 'at')
      AND data_type = 'timestamp with time zone'
    ORDER BY array_position(ARRAY['created_at', 'decided_at', 'received_at', 'at'], column_name::text)
    LIMIT 1`;
  return r?.column_name ?? null;
}
