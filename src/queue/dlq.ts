import { atomically, type Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { isJobId } from "./inspect.ts";
import { type Job, type JobRow, toJob } from "./job.ts";

/**
 * The dead-letter queue: dead jobs, browsed grouped by queue and reason, and replayed in bulk.
 * Replay creates new jobs linked by `retry_of` (the dead rows stay as they were), so
 * `sluice dlq replay` and `POST /v1/dlq/replay` share these two verbs.
 */

export interface DlqFilter {
  queue?: string | null;
  /** A dead reason such as `DEAD_MAX_ATTEMPTS`. */
  reason?: string | null;
  kind?: string | null;
  /** Only jobs that died at or after this time. */
  since?: Date | null;
  /** Only jobs that died before this time. */
  until?: Date | null;
}

export interface DlqGroup {
  queue: string;
  reason: string;
  count: number;
  oldest: string;
  newest: string;
  /** Dead jobs of the group not replayed yet (what a replay by filter would pick). */
  unreplayed: number;
}

export async function listDeadLetterGroups(sql: Db, f: DlqFilter = {}): Promise<DlqGroup[]> {
  const rows = await sql<
    {
      queue: string;
      reason: string;
      count: number;
      oldest: Date;
      newest: Date;
      unreplayed: number;
    }[]
  >`
    SELECT j.queue, coalesce(j.dead_reason, 'DEAD_MAX_ATTEMPTS') AS reason, count(*)::int AS count,
      min(j.finished_at) AS oldest, max(j.finished_at) AS newest,
      count(*) FILTER (WHERE NOT EXISTS (
        SELECT 1 FROM sluice.jobs r WHERE r.retry_of = j.id))::int AS unreplayed
    FROM sluice.jobs j
    WHERE j.state = 'dead' ${filterSql(sql, f)}
    GROUP BY 1, 2
    ORDER BY count(*) DESC, 1, 2`;
  return rows.map((r) => ({
    queue: r.queue,
    reason: r.reason,
    count: r.count,
    oldest: r.oldest.toISOString(),
    newest: r.newest.toISOString(),
    unreplayed: r.unreplayed,
  }));
}

export const MAX_REPLAY_PER_CALL = 1_000;

export interface ReplayRequest extends DlqFilter {
  /** Replay exactly these dead jobs (filters are then ignored). */
  ids?: string[] | null;
  /** At most this many per call (default 100, max 1000); call again for the rest. */
  limit?: number;
  createdBy?: string | null;
}

export interface ReplayReport {
  replayed: { id: string; newId: string; queue: string; reason: string | null }[];
  /** Dead jobs still matching the filter and not replayed (0 for replay by ids). */
  remaining: number;
  /** Requested ids that are not dead jobs. */
  skipped: string[];
}

/**
 * Replays dead jobs as new available jobs. By filter it takes the oldest dead jobs that have
 * not been replayed yet, so calling it again continues where the last call stopped, and two
 * concurrent calls never replay the same job (`FOR UPDATE SKIP LOCKED`). By ids it replays
 * exactly those (also one that was replayed before: the operator asked).
 */
export async function replayDeadLetters(sql: Db, req: ReplayRequest): Promise<ReplayReport> {
  const limit = Math.min(Math.max(req.limit ?? 100, 1), MAX_REPLAY_PER_CALL);
  const ids = req.ids ?? null;
  if (ids !== null) {
    const bad = ids.filter((id) => !isJobId(id));
    if (bad.length > 0) {
      throw new SluiceError("VALIDATION_FAILED", `'${bad[0]}' is not a job id`, { ids: bad });
    }
    if (ids.length > limit) {
      throw new SluiceError(
        "VALIDATION_FAILED",
        `${ids.length} ids exceed the limit of ${limit} per call`,
        { limit },
      );
    }
  }
  return await atomically(sql, async (tx) => {
    const rows = await tx<{ id: string; retry_of: string; queue: string; reason: string | null }[]>`
      WITH picked AS (
        SELECT j.id FROM sluice.jobs j
        WHERE j.state = 'dead'
          ${
      ids !== null ? tx`AND j.id = ANY(${ids}::bigint[])` : tx`${filterSql(tx, req)}
          AND NOT EXISTS (SELECT 1 FROM sluice.jobs r WHERE r.retry_of = j.id)`
    }
        ORDER BY j.finished_at, j.id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      INSERT INTO sluice.jobs AS n (
        queue, kind, payload, state, priority, run_at, max_attempts, timeout_ms, tags,
        retry_of, created_by
      )
      SELECT j.queue, j.kind, j.payload, 'available', j.priority, now(), j.max_attempts,
        j.timeout_ms, j.tags, j.id, ${req.createdBy ?? null}
      FROM sluice.jobs j JOIN picked ON picked.id = j.id
      ORDER BY j.finished_at, j.id
      -- \`n.\` qualified: a bare \`retry_of\` inside the subquery resolves to \`d.retry_of\` (the
      -- dead job's own, usually NULL), which reported every reason as null.
      RETURNING n.id, n.retry_of, n.queue,
        (SELECT d.dead_reason FROM sluice.jobs d WHERE d.id = n.retry_of) AS reason`;
    const replayed = rows.map((r) => ({
      id: String(r.retry_of),
      newId: String(r.id),
      queue: r.queue,
      reason: r.reason,
    }));
    let remaining = 0;
    if (ids === null) {
      const [c] = await tx<{ n: number }[]>`
        SELECT count(*)::int AS n FROM sluice.jobs j
        WHERE j.state = 'dead' ${filterSql(tx, req)}
          AND NOT EXISTS (SELECT 1 FROM sluice.jobs r WHERE r.retry_of = j.id)`;
      remaining = c?.n ?? 0;
    }
    const done = new Set(replayed.map((r) => r.id));
    return { replayed, remaining, skipped: (ids ?? []).filter((id) => !done.has(id)) };
  });
}

function filterSql(sql: Db, f: DlqFilter) {
  return sql`
    ${f.queue != null ? sql`AND j.queue = ${f.queue}` : sql``}
    ${f.reason != null ? sql`AND j.dead_reason = ${f.reason}` : sql``}
    ${f.kind != null ? sql`AND j.kind = ${f.kind}` : sql``}
    ${f.since != null ? sql`AND j.finished_at >= ${f.since}` : sql``}
    ${f.until != null ? sql`AND j.finished_at < ${f.until}` : sql``}`;
}

/** Dead jobs newest first (keyset on id) and their counts by reason under the same filter. */
export async function listDeadJobs(
  sql: Db,
  f: DlqFilter & { before?: string | null; limit?: number },
): Promise<{
  jobs: Job[];
  nextCursor: string | null;
  counts: Record<string, number>;
  replays: Record<string, string>;
}> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
  if (f.before != null && !isJobId(f.before)) {
    throw new SluiceError("VALIDATION_FAILED", `cursor '${f.before}' is not a job id`);
  }
  // Dead jobs are few (partial index jobs_dead_idx): grouping them is cheap.
  const [rows, groups] = await Promise.all([
    sql<JobRow[]>`
      SELECT j.* FROM sluice.jobs j WHERE j.state = 'dead' ${filterSql(sql, f)}
        ${f.before != null ? sql`AND j.id < ${f.before}` : sql``}
      ORDER BY j.id DESC LIMIT ${limit + 1}`,
    sql<{ reason: string | null; n: number }[]>`
      SELECT j.dead_reason AS reason, count(*)::int AS n FROM sluice.jobs j
      WHERE j.state = 'dead' ${filterSql(sql, f)}
      GROUP BY j.dead_reason ORDER BY j.dead_reason`,
  ]);
  const jobs = rows.slice(0, limit).map(toJob);
  // The newest re-run of each dead job on the page (jobs_retry_of_idx: one probe per row), so
  // a replayed row says "replayed → job N" after a reload too.
  const replayed = await sql<{ retry_of: string; id: string }[]>`
    SELECT retry_of, max(id) AS id FROM sluice.jobs
    WHERE retry_of = ANY(${jobs.map((j) => j.id)}::bigint[])
    GROUP BY retry_of`;
  return {
    jobs,
    nextCursor: rows.length > limit ? jobs.at(-1)!.id : null,
    counts: Object.fromEntries(groups.map((g) => [g.reason ?? "UNKNOWN", g.n])),
    replays: Object.fromEntries(replayed.map((r) => [String(r.retry_of), String(r.id)])),
  };
}
