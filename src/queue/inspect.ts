import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { dependencyTimeline } from "./dependency_timeline.ts";
import { isJobId, type Job, JOB_STATES, type JobRow, type JobState, toJob } from "./job.ts";
import { checkJobFilter, type JobFilter as Filter, jobFilterSql } from "./job_filter.ts";

export function jobNotFound(id: string): SluiceError {
  return new SluiceError("JOB_NOT_FOUND", `job ${id} does not exist`, { jobId: id });
}

export { isJobId } from "./job.ts";

export async function getJob(
  sql: Db,
  id: string,
  { ownedBy = null }: { ownedBy?: string | null } = {},
): Promise<Job> {
  if (!isJobId(id)) throw jobNotFound(id);
  const owner = ownedBy != null ? sql`AND created_by = ${ownedBy}` : sql``;
  // Succeeded jobs past SLUICE_ARCHIVE_SUCCEEDED_AFTER live in the archive (maintenance
  // archiver): looked up only on a miss, so the common case stays one primary-key probe.
  let [row] = await sql<JobRow[]>`SELECT * FROM sluice.jobs WHERE id = ${id} ${owner}`;
  if (!row) {
    [row] = await sql<JobRow[]>`SELECT * FROM sluice.jobs_archive WHERE id = ${id} ${owner}`;
  }
  if (!row) throw jobNotFound(id);
  return toJob(row);
}

export interface JobFilter extends Filter {
  /** Cursor: only jobs with a smaller id (newest first). */
  before?: string | null;
  limit?: number;
}

export interface JobPage {
  jobs: Job[];
  /** Pass as `before` for the next page; null on the last page. */
  nextCursor: string | null;
}

/**
 * Newest first, keyset-paginated on the primary key so page 1,000 costs what page 1 costs.
 * A payload filter is served by the GIN index (migrations/0016; bench/search.ts for figures).
 */
export async function listJobs(sql: Db, f: JobFilter = {}): Promise<JobPage> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
  if (f.before != null && !isJobId(f.before)) {
    throw new SluiceError("VALIDATION_FAILED", `cursor '${f.before}' is not a job id`);
  }
  await checkJobFilter(sql, f);
  const rows = await sql<JobRow[]>`
    SELECT * FROM sluice.jobs WHERE true ${jobFilterSql(sql, f)}
      ${f.before != null ? sql`AND id < ${f.before}` : sql``}
    ORDER BY id DESC
    LIMIT ${limit + 1}`;
  const jobs = rows.slice(0, limit).map(toJob);
  return { jobs, nextCursor: rows.length > limit ? jobs.at(-1)!.id : null };
}

export interface TimelineEntry {
  at: string;
  event:
    | "enqueued"
    | "scheduled"
    | "leased"
    | "failed"
    | "retry_scheduled"
    | "lease_expired"
    | "lease_released"
    | "succeeded"
    | "dead"
    | "cancel_requested"
    | "cancelled"
    | "replayed"
    | "blocked"
    | "released";
  attempt: number;
  workerId: string | null;
  detail: Record<string, unknown>;
}

/** One entry of `lease_releases` (migrations/0007_add_lease_secrets.sql), as jsonb stores it. */
interface LeaseRelease {
  attempt: number;
  leasedAt: string | null;
  at: string;
  worker: string | null;
  reason: string;
}

/** jsonb keeps timestamps in PostgreSQL's text form: normalize to ISO for sorting. */
const isoOf = (t: string): string => new Date(t).toISOString();

/**
 * Every transition of a job, rebuilt from its row: the row keeps each failed attempt's start,
 * end, worker and error, and the current attempt's lease, so the happy path needs no extra
 * event rows (one insert and two updates per job). Jobs that re-ran this one come from the
 * `retry_of` link.
 */
export async function jobTimeline(
  sql: Db,
  id: string,
  opts: { ownedBy?: string | null } = {},
): Promise<{ job: Job; timeline: TimelineEntry[] }> {
  const job = await getJob(sql, id, opts);
  const children = await sql<{ id: string; created_at: Date; created_by: string | null }[]>`
    SELECT id, created_at, created_by FROM sluice.jobs WHERE retry_of = ${id}
    UNION ALL
    SELECT id, created_at, created_by FROM sluice.jobs_archive WHERE retry_of = ${id}
    ORDER BY id`;
  const [lease] = await sql<{ leased_at: Date | null; lease_releases: LeaseRelease[] | null }[]>`
    SELECT leased_at, lease_releases FROM sluice.jobs WHERE id = ${id}
    UNION ALL
    SELECT leased_at, lease_releases FROM sluice.jobs_archive WHERE id = ${id}`;
  const out: TimelineEntry[] = [];
  const push = (e: TimelineEntry) => out.push(e);
  push({
    at: job.createdAt,
    event: "enqueued",
    attempt: 0,
    workerId: null,
    detail: {
      queue: job.queue,
      kind: job.kind,
      createdBy: job.createdBy,
      ...(job.retryOf ? { retryOf: job.retryOf } : {}),
    },
  });
  for (const e of await dependencyTimeline(sql, job)) push({ ...e, attempt: 0, workerId: null });
  if (job.state === "scheduled" || job.runAt > job.createdAt && job.attempt === 0) {
    push({
      at: job.createdAt,
      event: "scheduled",
      attempt: 0,
      workerId: null,
      detail: { runAt: job.runAt },
    });
  }
  for (const e of job.errors) {
    if (e.code === "CANCELLED") continue;
    if (e.startedAt) {
      push({
        at: e.startedAt,
        event: "leased",
        attempt: e.attempt,
        workerId: e.worker,
        detail: {},
      });
    }
    push({
      at: e.at,
      event: e.code === "LEASE_EXPIRED" ? "lease_expired" : "failed",
      attempt: e.attempt,
      workerId: e.worker,
      detail: { code: e.code, message: e.message, retryable: e.retryable },
    });
  }
  // Leases given back without an outcome (releaseJobs, on worker shutdown): their attempt
  // number was handed out again, so they are not in `errors`.
  for (const r of lease?.lease_releases ?? []) {
    if (r.leasedAt) {
      push({
        at: isoOf(r.leasedAt),
        event: "leased",
        attempt: r.attempt,
        workerId: r.worker,
        detail: {},
      });
    }
    push({
      at: isoOf(r.at),
      event: "lease_released",
      attempt: r.attempt,
      workerId: r.worker,
      detail: { reason: r.reason },
    });
  }
  const failedAttempts = new Set(job.errors.map((e) => e.attempt));
  const current = job.attempt;
  if (current > 0 && !failedAttempts.has(current) && lease?.leased_at) {
    push({
      at: lease.leased_at.toISOString(),
      event: "leased",
      attempt: current,
      workerId: job.workerId,
      detail: job.leaseExpiresAt ? { leaseExpiresAt: job.leaseExpiresAt } : {},
    });
  }
  if (job.state === "retrying") {
    const last = job.errors.at(-1);
    push({
      at: last?.at ?? job.runAt,
      event: "retry_scheduled",
      attempt: job.attempt,
      workerId: null,
      detail: { runAt: job.runAt },
    });
  }
  if (job.cancelRequested && job.state === "running") {
    push({
      at: new Date().toISOString(),
      event: "cancel_requested",
      attempt: current,
      workerId: null,
      detail: {},
    });
  }
  if (job.finishedAt) {
    const terminal = job.state === "succeeded"
      ? "succeeded"
      : job.state === "dead"
      ? "dead"
      : "cancelled";
    push({
      at: job.finishedAt,
      event: terminal,
      attempt: current,
      workerId: job.state === "succeeded" ? job.workerId : null,
      detail: job.state === "dead"
        ? { deadReason: job.deadReason, lastError: job.lastError }
        : job.deadReason
        ? { reason: job.deadReason }
        : {},
    });
  }
  for (const c of children) {
    push({
      at: c.created_at.toISOString(),
      event: "replayed",
      attempt: current,
      workerId: null,
      detail: { newJobId: String(c.id), by: c.created_by },
    });
  }
  // Times are transaction starts (now()), which do not order transactions: a lease whose
  // transaction began just before the INSERT's, and took its snapshot after that commit, carries
  // an earlier time than the job's created_at (seen on a loaded host, flaking worker_test). A
  // job has no history before it exists, so its first entries stay first whatever the times.
  const born = (e: TimelineEntry) =>
    e.event === "enqueued" || e.event === "scheduled" || e.event === "blocked";
  const later = out.filter((e) => !born(e)).sort((a, b) => a.at.localeCompare(b.at));
  return { job, timeline: [...out.filter(born), ...later] };
}

export type StateCounts = Record<JobState, number>;

export function emptyCounts(): StateCounts {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts;
}
