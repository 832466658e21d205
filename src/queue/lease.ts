import type { Sql } from "../db/connect.ts";
import type { LeasedJob } from "./job.ts";

export interface LeaseOptions {
  queue: string;
  workerId: string;
  max: number;
  leaseMs: number;
  /** Queue-wide limits shared by every worker; null when the queue has none. */
  concurrency?: number | null;
  rateLimit?: { count: number; perMs: number } | null;
}

interface LeasedRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  lease_token: string;
  priority: number;
  tags: string[];
  idempotency_key: string | null;
  created_at: Date;
  run_at: Date;
  leased_at: Date;
  lease_expires_at: Date;
}

/**
 * Leases up to `max` available jobs of one queue: one statement that walks the partial index
 * `jobs_available_idx` in delivery order (priority desc, run_at, id), skips rows other workers
 * hold (`FOR UPDATE SKIP LOCKED`), counts the attempt and hands out a fresh fencing token.
 * A paused queue leases nothing. Leasing per queue (rather than `queue = ANY(...)`) keeps the
 * scan an ordered index range that stops after `max` rows.
 */
export async function leaseJobs(sql: Sql, opts: LeaseOptions): Promise<LeasedJob[]> {
  if (opts.max <= 0) return [];
  if (opts.concurrency != null || opts.rateLimit != null) {
    return await sql.begin((tx) => leaseLimited(tx as unknown as Sql, opts));
  }
  return toLeased(await leaseStatement(sql, opts.queue, opts.workerId, opts.max, opts.leaseMs));
}

function leaseStatement(sql: Sql, queue: string, workerId: string, max: number, leaseMs: number) {
  return sql<LeasedRow[]>`
    WITH picked AS (
      SELECT id FROM sluice.jobs
      WHERE state = 'available' AND queue = ${queue}
        AND NOT EXISTS (SELECT 1 FROM sluice.queues WHERE name = ${queue} AND paused)
      ORDER BY priority DESC, run_at, id
      LIMIT ${max}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE sluice.jobs j SET
      state = 'running',
      attempt = j.attempt + 1,
      lease_token = nextval('sluice.lease_token_seq'),
      worker_id = ${workerId},
      leased_at = now(),
      lease_expires_at = now() + ${leaseMs} * interval '1 millisecond',
      started_at = coalesce(j.started_at, now())
    FROM picked WHERE j.id = picked.id
    RETURNING j.id, j.queue, j.kind, j.payload, j.attempt, j.max_attempts, j.timeout_ms,
      j.lease_token, j.priority, j.tags, j.idempotency_key, j.created_at, j.run_at,
      j.leased_at, j.lease_expires_at`;
}

/**
 * Queue-wide concurrency and start-rate limits: serialized per queue by a transaction-scoped
 * advisory lock so two workers cannot both take the last free slot.
 */
async function leaseLimited(tx: Sql, opts: LeaseOptions): Promise<LeasedJob[]> {
  await tx`SELECT pg_advisory_xact_lock(hashtext('sluice.queue'), hashtext(${opts.queue}))`;
  let allowed = opts.max;
  if (opts.concurrency != null) {
    const [row] = await tx<{ running: number }[]>`
      SELECT count(*)::int AS running FROM sluice.jobs
      WHERE state = 'running' AND queue = ${opts.queue}`;
    allowed = Math.min(allowed, opts.concurrency - (row?.running ?? 0));
  }
  if (opts.rateLimit != null) {
    const [row] = await tx<{ used: number }[]>`
      SELECT CASE WHEN rate_window_start IS NULL
          OR rate_window_start <= now() - ${opts.rateLimit.perMs} * interval '1 millisecond'
        THEN 0 ELSE rate_window_count END AS used
      FROM sluice.queues WHERE name = ${opts.queue}`;
    allowed = Math.min(allowed, opts.rateLimit.count - (row?.used ?? 0));
  }
  if (allowed <= 0) return [];
  const leased = toLeased(
    await leaseStatement(tx, opts.queue, opts.workerId, allowed, opts.leaseMs),
  );
  if (opts.rateLimit != null && leased.length > 0) {
    await tx`
      UPDATE sluice.queues SET
        rate_window_count = CASE WHEN rate_window_start IS NULL
            OR rate_window_start <= now() - ${opts.rateLimit.perMs} * interval '1 millisecond'
          THEN ${leased.length} ELSE rate_window_count + ${leased.length} END,
        rate_window_start = CASE WHEN rate_window_start IS NULL
            OR rate_window_start <= now() - ${opts.rateLimit.perMs} * interval '1 millisecond'
          THEN now() ELSE rate_window_start END
      WHERE name = ${opts.queue}`;
  }
  return leased;
}

function toLeased(rows: LeasedRow[]): LeasedJob[] {
  return rows.map((r) => ({
    id: String(r.id),
    queue: r.queue,
    kind: r.kind,
    payload: r.payload,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    leaseToken: String(r.lease_token),
    priority: r.priority,
    tags: r.tags,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    runAt: r.run_at,
    leasedAt: r.leased_at,
    leaseExpiresAt: r.lease_expires_at,
  }));
}
