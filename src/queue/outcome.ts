import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import type { Fence } from "./job.ts";
import { isJobId } from "./inspect.ts";
import { jsonValueProblem, storableText } from "./json_value.ts";
import type { LeaseVia } from "./lease.ts";

/**
 * Outcomes of a leased attempt. Every write is fenced on (id, attempt, lease secret), on the
 * job still running and on its lease not having expired by PostgreSQL's clock (even before the
 * reaper took it back): a worker that lost its lease (expired, reaped, or leased again
 * elsewhere) changes nothing and learns `STALE_LEASE`. The secret (`lease_secret`, handed out
 * by the lease, migrations/0007_add_lease_secrets.sql) is the credential; the guessable fencing
 * number `lease_token` is not part of the fence.
 */

export function staleLease(fence: Fence): SluiceError {
  return new SluiceError(
    "STALE_LEASE",
    `job ${fence.id} attempt ${fence.attempt} does not hold this lease (it expired, the job ` +
      "was leased again or finished, or the lease token is not this attempt's)",
    { jobId: fence.id, attempt: fence.attempt },
  );
}

/** Narrower fences for callers that may report only on some leases. */
export interface FenceScope {
  /** Only leases taken this way: the pull API passes "pull". */
  via?: LeaseVia;
  /** Only attempts waiting for their callback (the http receiver answered 202). */
  awaitingCallback?: boolean;
}

/**
 * What a fenced write needs beyond the triple: an unexpired lease, and the caller's scope.
 * Unqualified column names: they are the job row's in every statement that uses it.
 */
function leaseHeld(sql: Db, scope: FenceScope) {
  return sql`AND lease_expires_at >= now()
    ${scope.via ? sql`AND lease_via = ${scope.via}::text` : sql``}
    ${scope.awaitingCallback ? sql`AND callback_token = lease_token` : sql``}`;
}

/** The fence of one attempt, for single-row statements on `sluice.jobs` (not aliased). */
export function fencedOn(sql: Db, fence: Fence, scope: FenceScope = {}) {
  checkFence(fence);
  return sql`id = ${fence.id} AND attempt = ${fence.attempt}
    AND lease_secret = ${fence.leaseToken}::text AND state = 'running' ${leaseHeld(sql, scope)}`;
}

const MAX_MESSAGE = 2_000;

export interface Completion extends Fence {
  result?: unknown;
}

export interface CompleteOptions {
  /**
   * Commit without waiting for the WAL flush (`synchronous_commit = off` for this statement's
   * transaction only). Safe for a worker's own completions because delivery is at-least-once:
   * a completion lost in a PostgreSQL crash leaves the job `running` under its lease, and the
   * reaper retries it after the lease expires, exactly as if the worker had died before writing
   * it. Nothing else is relaxed (enqueue and lease stay durable, so fencing tokens never
   * repeat). Measured with fsync on, 2 cores: 100 one-job lease+complete cycles took 765 and
   * 597 ms with it against 1,532 and 1,018 ms without (the completion's commit no longer waits
   * for the WAL flush; the lease's still does).
   */
  asyncCommit?: boolean;
  scope?: FenceScope;
}

/**
 * Marks attempts succeeded in one statement; returns the ids that were still fenced. The batch
 * form is what lets a worker at concurrency 50 complete with one round trip per wake-up.
 */
export async function completeJobs(
  sql: Db,
  items: readonly Completion[],
  opts: CompleteOptions = {},
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  for (const i of items) {
    const problem = i.result === undefined ? null : jsonValueProblem(i.result);
    if (problem) {
      throw new SluiceError("VALIDATION_FAILED", `result ${problem}`, { jobId: i.id });
    }
  }
  // set_config(…, true) in a joined one-row CTE: one round trip, and the setting lasts only for
  // this statement's implicit transaction (commit reads it before it is reset).
  // Perf (issue #8): one row back, with the ids listed only when some fence failed (rare), not
  // one row per completed job.
  const [row] = await sql<[{ n: number; ids: string[] | null }]>`
    WITH cfg AS (
      SELECT set_config('synchronous_commit',
        coalesce(${opts.asyncCommit ? "off" : null}::text, current_setting('synchronous_commit')),
        true) AS v
    ),
    done AS (
      UPDATE sluice.jobs j SET
        state = 'succeeded', finished_at = now(), lease_expires_at = NULL,
        result = x.result::jsonb
      FROM cfg, ${fenceRows(sql, items, resultsOf(items))}
      WHERE ${stillLeased(sql, opts.scope)} AND cfg.v IS NOT NULL
      RETURNING j.id
    )
    SELECT count(*)::int AS n,
      CASE WHEN count(*) < ${items.length} THEN array_agg(id::text) END AS ids
    FROM done`;
  if (row.n === items.length) return new Set(items.map((i) => i.id));
  return new Set(row.ids ?? []);
}

/**
 * A batch of fences as rows `x(id, attempt, lease_secret, result)` to join in `UPDATE … FROM`:
 * one array per column through unnest() (results as JSON text; a NULL array gives NULL results).
 * Ids and attempts are decimal integers and secrets base64url (checkFence), none of which an
 * array literal needs to quote, so their literals are joined directly: postgres.js quotes and
 * regex-escapes every element of an array parameter, a visible share of the worker's CPU per job.
 */
function fenceRows(sql: Db, fences: readonly Fence[], results: (string | null)[] | null = null) {
  const ids = new Array<string>(fences.length);
  const attempts = new Array<string>(fences.length);
  const secrets = new Array<string>(fences.length);
  for (let i = 0; i < fences.length; i++) {
    const f = checkFence(fences[i]!);
    ids[i] = f.id;
    attempts[i] = String(f.attempt);
    secrets[i] = f.leaseToken;
  }
  return sql`unnest(
    ${`{${ids.join(",")}}`}::bigint[],
    ${`{${attempts.join(",")}}`}::int[],
    ${`{${secrets.join(",")}}`}::text[],
    ${results}::text[]
  ) AS x(id, attempt, lease_secret, result)`;
}

/**
 * Lease tokens as the lease hands them out are 43 base64url characters; 16 to 128 of that
 * alphabet are well-formed (a wrong one is simply STALE_LEASE), so a short or foreign value is
 * a validation error. The alphabet has no character an array literal would need quoted, and
 * "NULL" is too short to be one.
 */
export const LEASE_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const MAX_INT = 2_147_483_647;

/**
 * Refuses a fence PostgreSQL could not compare (an id or attempt out of its integer range, a
 * token outside the alphabet) as VALIDATION_FAILED, before it reaches SQL as a server error.
 */
function checkFence(f: Fence): Fence {
  const bad = !isJobId(f.id)
    ? `'${f.id}' is not a job id`
    : !Number.isInteger(f.attempt) || f.attempt < 1 || f.attempt > MAX_INT
    ? `'${f.attempt}' is not an attempt number`
    : typeof f.leaseToken !== "string" || !LEASE_TOKEN.test(f.leaseToken)
    ? `'${String(f.leaseToken).slice(0, 140)}' is not a lease token`
    : null;
  if (bad) throw new SluiceError("VALIDATION_FAILED", bad, { jobId: f.id });
  return f;
}

/** Results as JSON text for fenceRows, or null when no attempt returned one (the common case). */
function resultsOf(items: readonly Completion[]): (string | null)[] | null {
  if (items.every((i) => i.result == null)) return null;
  return items.map((i) => i.result == null ? null : JSON.stringify(i.result));
}

/**
 * The fence: the row `x` of fenceRows still holds the same attempt under the same secret, and
 * its lease has not expired (leaseHeld).
 * Perf (issue #8): `state || ''` hides the state test from the partial index jobs_running_idx,
 * so the only index the join can use is the primary key, and every plan is a lookup per row.
 * With the plain test, once the prepared statement went to its generic plan (unnest() guessed
 * at 10 rows) after a purge had left the statistics saying "empty", PostgreSQL picked a nested
 * loop that compared every running row with every fence: 500 completions took 55 ms instead
 * of 4 ms (EXPLAIN ANALYZE of the 8th execution), and a custom plan of a small table scanned
 * it whole. Both plans stay flat now: a primary-key lookup per fence.
 */
function stillLeased(sql: Db, scope: FenceScope = {}) {
  return sql`j.id = x.id AND j.attempt = x.attempt AND j.lease_secret = x.lease_secret
      AND j.state || '' = 'running' ${leaseHeld(sql, scope)}`;
}

export async function completeJob(
  sql: Db,
  fence: Completion,
  scope: FenceScope = {},
): Promise<void> {
  const done = await completeJobs(sql, [fence], { scope });
  if (!done.has(fence.id)) throw staleLease(fence);
}

export interface Failure {
  code: string;
  message: string;
  /** False for permanent failures: the job goes to the dead-letter queue now. */
  retryable?: boolean;
  /** A delay the handler asked for (HTTP Retry-After, exec exit 75); else backoff. */
  retryAfterMs?: number | null;
  workerId?: string | null;
}

export interface FailResult {
  state: "retrying" | "available" | "dead";
  runAt: Date;
  deadReason: string | null;
}

/**
 * Records a failed attempt: retry after `delayMs` (computed by the caller from the queue's
 * backoff, or the handler's own delay), or dead when attempts are exhausted or the failure is
 * permanent. The error of every attempt is appended to `errors`.
 */
export async function failJob(
  sql: Db,
  fence: Fence,
  failure: Failure,
  delayMs: number,
  scope: FenceScope = {},
): Promise<FailResult> {
  const retryable = failure.retryable ?? true;
  const code = storableText(failure.code);
  const delay = Math.max(0, Math.round(failure.retryAfterMs ?? delayMs));
  const rows = await sql<
    { state: FailResult["state"]; run_at: Date; dead_reason: string | null; queue: string }[]
  >`
    UPDATE sluice.jobs j SET
      state = v.next_state,
      dead_reason = v.dead_reason,
      run_at = CASE WHEN v.next_state = 'dead' THEN j.run_at ELSE v.retry_at END,
      finished_at = CASE WHEN v.next_state = 'dead' THEN now() END,
      lease_expires_at = NULL,
      errors = j.errors || jsonb_build_array(jsonb_build_object(
        'attempt', j.attempt, 'code', ${code}::text, 'message', ${
    storableText(failure.message.slice(0, MAX_MESSAGE))
  }::text,
        'at', now(), 'startedAt', j.leased_at, 'worker', ${failure.workerId ?? null}::text,
        'retryable', ${retryable}::boolean))
    FROM (
      SELECT id,
        CASE
          WHEN NOT ${retryable}::boolean THEN 'dead'
          WHEN attempt >= max_attempts THEN 'dead'
          WHEN ${delay}::bigint = 0 THEN 'available'
          ELSE 'retrying'
        END AS next_state,
        CASE
          WHEN NOT ${retryable}::boolean THEN 'DEAD_PERMANENT_ERROR'
          WHEN attempt >= max_attempts AND ${code}::text = 'TIMEOUT' THEN 'DEAD_TIMEOUT'
          WHEN attempt >= max_attempts THEN 'DEAD_MAX_ATTEMPTS'
        END AS dead_reason,
        now() + ${delay}::bigint * interval '1 millisecond' AS retry_at
      FROM sluice.jobs
      WHERE ${fencedOn(sql, fence, scope)}
    ) v
    WHERE j.id = v.id
    RETURNING j.state, j.run_at, j.dead_reason, j.queue`;
  const row = rows[0];
  if (!row) throw staleLease(fence);
  if (row.state === "available") await notifyQueues(sql, [row.queue]);
  return { state: row.state, runAt: row.run_at, deadReason: row.dead_reason };
}

export interface HeartbeatResult {
  /** Jobs whose lease was extended. */
  alive: Set<string>;
  /** Of those, jobs an operator asked to cancel: the worker aborts them. */
  cancelRequested: Set<string>;
}

/**
 * Extends the leases of running attempts in one statement, to `leaseMs` from now, or with null
 * by the length each lease was granted with (`lease_ms`). A heartbeat never shortens a lease:
 * a pull worker's beat without its own length must not cut a 10-minute lease to the default.
 */
export async function heartbeatJobs(
  sql: Db,
  fences: readonly Fence[],
  leaseMs: number | null,
  scope: FenceScope = {},
): Promise<HeartbeatResult> {
  if (fences.length === 0) return { alive: new Set(), cancelRequested: new Set() };
  const rows = await sql<{ id: string; cancel_requested: boolean }[]>`
    UPDATE sluice.jobs j SET lease_expires_at = greatest(j.lease_expires_at,
      now() + coalesce(${leaseMs}::int, j.lease_ms) * interval '1 millisecond')
    FROM ${fenceRows(sql, fences)}
    WHERE ${stillLeased(sql, scope)}
    RETURNING j.id, j.cancel_requested`;
  return {
    alive: new Set(rows.map((r) => String(r.id))),
    cancelRequested: new Set(rows.filter((r) => r.cancel_requested).map((r) => String(r.id))),
  };
}

/**
 * Gives attempts back without counting them (graceful shutdown): the jobs become available
 * again at once and other workers are woken. Each release is kept in `lease_releases` (the
 * lease it ends, when, by which worker), so the timeline shows the lease that did not count
 * (issue #21.9); releases are rare, so the row grows only then.
 */
export async function releaseJobs(
  sql: Db,
  fences: readonly Fence[],
  reason = "shutdown",
): Promise<Set<string>> {
  if (fences.length === 0) return new Set();
  const rows = await sql<{ id: string; queue: string }[]>`
    UPDATE sluice.jobs j SET
      state = 'available', attempt = j.attempt - 1, lease_expires_at = NULL, worker_id = NULL,
      leased_at = NULL, started_at = CASE WHEN j.attempt = 1 THEN NULL ELSE j.started_at END,
      lease_releases = coalesce(j.lease_releases, '[]'::jsonb) || jsonb_build_array(
        jsonb_build_object('attempt', j.attempt, 'leasedAt', j.leased_at, 'at', now(),
          'worker', j.worker_id, 'reason', ${reason}::text))
    FROM ${fenceRows(sql, fences)}
    WHERE ${stillLeased(sql)}
    RETURNING j.id, j.queue`;
  await notifyQueues(sql, rows.map((r) => r.queue));
  return new Set(rows.map((r) => String(r.id)));
}

/** Ends an attempt that an operator cancelled while it ran. */
export async function finishCancelled(sql: Db, fence: Fence, workerId: string): Promise<void> {
  const rows = await sql`
    UPDATE sluice.jobs SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL,
      errors = errors || jsonb_build_array(jsonb_build_object(
        'attempt', attempt, 'code', 'CANCELLED', 'message', 'cancelled by an operator while running',
        'at', now(), 'startedAt', leased_at, 'worker', ${workerId}::text, 'retryable', false))
    WHERE ${fencedOn(sql, fence)}
    RETURNING id`;
  if (rows.length === 0) throw staleLease(fence);
}

/** Wakes workers listening on `sluice_jobs`: one notification, however many queues. */
export async function notifyQueues(sql: Db, queues: readonly string[]): Promise<void> {
  const unique = [...new Set(queues)];
  if (unique.length === 0) return;
  await sql`SELECT pg_notify('sluice_jobs', ${unique.join(",").slice(0, 7000)})`;
}
