import type { Db } from "../db/connect.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * Moves succeeded jobs finished more than `olderThanMs` ago from `sluice.jobs` to
 * `sluice.jobs_archive` (one DELETE … RETURNING feeding an INSERT per batch, so a row is in
 * exactly one of the two tables at any moment). Keeps the hot table and its indexes small;
 * getJob and jobTimeline still find archived jobs.
 */
export async function archiveSucceededJobs(
  sql: Db,
  { olderThanMs, batchSize = 5_000, now = null }: {
    olderThanMs: number;
    batchSize?: number;
    now?: Date | null;
  },
): Promise<{ archived: number }> {
  let archived = 0;
  // By column name, not position: columns added to both tables by a later migration land after
  // the archive's own archived_at (0007), so `SELECT moved.*, now()` would no longer line up.
  const [{ columns }] = await sql<[{ columns: string[] }]>`
    SELECT array_agg(attname::text ORDER BY attnum) AS columns FROM pg_attribute
    WHERE attrelid = 'sluice.jobs'::regclass AND attnum > 0 AND NOT attisdropped`;
  // A fragment of its own, so postgres.js renders a plain identifier list: inline, it picks the
  // builder by the last SQL keyword before it and took this for an INSERT of objects.
  const list = sql`${sql(columns)}`;
  for (;;) {
    const [{ n }] = await sql<[{ n: number }]>`
      WITH moved AS (
        DELETE FROM sluice.jobs WHERE id IN (
          SELECT id FROM sluice.jobs
          WHERE state = 'succeeded'
            AND finished_at < coalesce(${now}::timestamptz, now())
              - ${olderThanMs} * interval '1 millisecond'
          ORDER BY finished_at
          LIMIT ${batchSize}
          FOR UPDATE SKIP LOCKED)
        RETURNING *
      ), ins AS (
        INSERT INTO sluice.jobs_archive (${list}, archived_at)
        SELECT ${list}, coalesce(${now}::timestamptz, now()) FROM moved RETURNING 1
      )
      SELECT count(*)::int AS n FROM ins`;
    archived += n;
    if (n < batchSize) return { archived };
  }
}

/** The archiver service: SLUICE_ARCHIVE_SUCCEEDED_AFTER is `olderThanMs`. */
export function archiver(
  { everyMs, olderThanMs }: Every & { olderThanMs: number },
): MaintenanceService {
  return {
    name: "archiver",
    everyMs,
    run: (sql, { now }) => archiveSucceededJobs(sql, { olderThanMs, now }),
  };
}
