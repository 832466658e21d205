import type { Db } from "../db/connect.ts";
import type { Every, MaintenanceService } from "./service.ts";

export const SCRUBBED = { scrubbed: true } as const;

/**
 * Replaces the payload of finished jobs (succeeded, dead, cancelled; live and archived) that
 * finished more than `olderThanMs` ago with `{"scrubbed": true}`. Everything else stays:
 * queue, kind, state, attempts, errors, timestamps, tags — the job's history without its data.
 * Rows already scrubbed are skipped by the predicate; they stay in the walked index range only
 * until archived or pruned, so a pass stays bounded.
 */
export async function scrubPayloads(
  sql: Db,
  { olderThanMs, batchSize = 5_000, now = null }: {
    olderThanMs: number;
    batchSize?: number;
    now?: Date | null;
  },
): Promise<{ scrubbed: number }> {
  const doc = JSON.stringify(SCRUBBED);
  let scrubbed = 0;
  for (;;) {
    const rows = await sql`
      UPDATE sluice.jobs SET payload = ${doc}::text::jsonb WHERE id IN (
        SELECT id FROM sluice.jobs
        WHERE state IN ('succeeded', 'dead', 'cancelled')
          AND finished_at < coalesce(${now}::timestamptz, now())
            - ${olderThanMs} * interval '1 millisecond'
          AND payload <> ${doc}::text::jsonb
        ORDER BY finished_at
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED)
      RETURNING 1`;
    scrubbed += rows.length;
    if (rows.length < batchSize) break;
  }
  for (;;) {
    const rows = await sql`
      UPDATE sluice.jobs_archive SET payload = ${doc}::text::jsonb WHERE id IN (
        SELECT id FROM sluice.jobs_archive
        WHERE finished_at < coalesce(${now}::timestamptz, now())
            - ${olderThanMs} * interval '1 millisecond'
          AND payload <> ${doc}::text::jsonb
        ORDER BY finished_at
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED)
      RETURNING 1`;
    scrubbed += rows.length;
    if (rows.length < batchSize) return { scrubbed };
  }
}

/** The scrubber service: SLUICE_SCRUB_PAYLOADS_AFTER is `olderThanMs` (off: not listed). */
export function scrubber(
  { everyMs, olderThanMs }: Every & { olderThanMs: number },
): MaintenanceService {
  return {
    name: "scrubber",
    everyMs,
    run: async (sql, { now, log }) => {
      const r = await scrubPayloads(sql, { olderThanMs, now });
      if (r.scrubbed > 0) log.info("scrubbed_payloads", { count: r.scrubbed });
      return r;
    },
  };
}
