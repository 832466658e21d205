import type { Db } from "../db/connect.ts";

export interface ThroughputBucket {
  /** Start of the bucket (ISO). */
  at: string;
  succeeded: number;
  dead: number;
  /** Failed attempts (retried or not), from the jobs' per-attempt error records. */
  failed: number;
}

export interface Throughput {
  windowMs: number;
  bucketMs: number;
  buckets: ThroughputBucket[];
  /** Rows looked at: at most `scanLimit`, the newest jobs by id. */
  scanned: number;
  /**
   * True when the scan reached jobs created before the window: then every job created inside
   * the window was counted. False on a busy system, where the chart covers the newest
   * `scanLimit` jobs only.
   */
  coversWindow: boolean;
}

/**
 * Finished jobs and failed attempts per bucket over the last `windowMs`.
 *
 * There is no index on `finished_at` (one more index write on every completion would tax the
 * hot path for a chart), so this walks the primary key backwards over the newest `scanLimit`
 * jobs only: ids grow with creation time, and nearly every job finishing within the hour was
 * created within it. Cost is bounded by `scanLimit` whatever the table size (measured in
 * bench/ops_page.ts); jobs scheduled long ago that finished in the window may be missed.
 */
export async function jobThroughput(
  sql: Db,
  {
    windowMs = 3_600_000,
    bucketMs = 60_000,
    scanLimit = 100_000,
  }: { windowMs?: number; bucketMs?: number; scanLimit?: number } = {},
): Promise<Throughput> {
  const rows = await sql<
    { b: Date | null; s: number; d: number; f: number; scanned: number; covers: boolean }[]
  >`
    WITH recent AS MATERIALIZED (
      SELECT state, finished_at, created_at, errors FROM sluice.jobs
      WHERE id > (SELECT coalesce(max(id), 0) FROM sluice.jobs) - ${scanLimit}
    ),
    since AS (SELECT now() - ${windowMs} * interval '1 millisecond' AS t),
    fin AS (
      SELECT date_bin(${bucketMs} * interval '1 millisecond', finished_at, 'epoch') AS b,
        count(*) FILTER (WHERE state = 'succeeded')::int AS s,
        count(*) FILTER (WHERE state = 'dead')::int AS d
      FROM recent, since WHERE finished_at >= since.t GROUP BY 1
    ),
    fail AS (
      SELECT date_bin(${bucketMs} * interval '1 millisecond', (e->>'at')::timestamptz, 'epoch') AS b,
        count(*)::int AS f
      FROM recent, since, jsonb_array_elements(recent.errors) e
      WHERE recent.errors <> '[]' AND e->>'code' <> 'CANCELLED' AND (e->>'at')::timestamptz >= since.t
      GROUP BY 1
    ),
    meta AS (
      SELECT count(*)::int AS scanned, coalesce(min(created_at) < (SELECT t FROM since), true) AS covers
      FROM recent
    )
    SELECT b, coalesce(s, 0) AS s, coalesce(d, 0) AS d, coalesce(f, 0) AS f, meta.scanned, meta.covers
    FROM meta LEFT JOIN (fin FULL JOIN fail USING (b)) ON true
    ORDER BY b`;
  const first = rows[0];
  return {
    windowMs,
    bucketMs,
    buckets: rows.filter((r) => r.b !== null).map((r) => ({
      at: r.b!.toISOString(),
      succeeded: r.s,
      dead: r.d,
      failed: r.f,
    })),
    scanned: first?.scanned ?? 0,
    coversWindow: first?.covers ?? true,
  };
}
