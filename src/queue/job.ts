/** The job resource as the API, CLI and library see it (DESIGN.md "Shapes"). */
export const JOB_STATES = [
  "blocked",
  "scheduled",
  "available",
  "running",
  "retrying",
  "succeeded",
  "dead",
  "cancelled",
] as const;
export type JobState = typeof JOB_STATES[number];

const DIGITS = /^[1-9][0-9]{0,18}$/;

/** Ids are strings of digits; anything else cannot name a job (and must not reach SQL as bigint). */
export function isJobId(id: unknown): id is string {
  return typeof id === "string" && DIGITS.test(id) && BigInt(id) <= 9223372036854775807n;
}

export const UNFINISHED_STATES: readonly JobState[] = [
  "blocked",
  "scheduled",
  "available",
  "running",
  "retrying",
];

export interface AttemptError {
  attempt: number;
  code: string;
  message: string;
  at: string;
  startedAt: string | null;
  worker: string | null;
  retryable: boolean;
}

export interface Job {
  id: string;
  queue: string;
  kind: string;
  state: JobState;
  payload: unknown;
  priority: number;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number | null;
  runAt: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  leaseExpiresAt: string | null;
  workerId: string | null;
  deadReason: string | null;
  lastError: { code: string; message: string; at: string } | null;
  errors: AttemptError[];
  result: unknown;
  retryOf: string | null;
  idempotencyKey: string | null;
  tags: string[];
  createdBy: string | null;
  cancelRequested: boolean;
  /** The key of the queue's per-key concurrency limit (docs/flow-control.md), or null. */
  concurrencyKey: string | null;
  /** Parents, workflow and batch (issue #16); null for a job with none of them. */
  composition: Composition | null;
}

export interface Composition {
  /** Parents that have not succeeded yet; null when the job never had parents. */
  parentsPending: number | null;
  onParentFailure: string | null;
  releasedAt: string | null;
  workflowId: string | null;
  workflowKey: string | null;
  batchId: string | null;
}

/** A row of sluice.jobs as postgres.js returns it (bigint as string, timestamptz as Date). */
export interface JobRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  state: JobState;
  priority: number;
  run_at: Date;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  idempotency_key: string | null;
  tags: string[];
  retry_of: string | null;
  lease_token: string | null;
  worker_id: string | null;
  leased_at: Date | null;
  lease_expires_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  dead_reason: string | null;
  errors: AttemptError[];
  result: unknown;
  cancel_requested: boolean;
  created_by: string | null;
  created_at: Date;
  concurrency_key: string | null;
  parents_pending?: number | null;
  on_parent_failure?: string | null;
  released_at?: Date | null;
  workflow_id?: string | null;
  workflow_key?: string | null;
  batch_id?: string | null;
}

function compositionOf(row: JobRow): Composition | null {
  if (row.parents_pending == null && row.workflow_id == null && row.batch_id == null) return null;
  return {
    parentsPending: row.parents_pending ?? null,
    onParentFailure: row.on_parent_failure ?? null,
    releasedAt: iso(row.released_at ?? null),
    workflowId: row.workflow_id == null ? null : String(row.workflow_id),
    workflowKey: row.workflow_key ?? null,
    batchId: row.batch_id == null ? null : String(row.batch_id),
  };
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const isoText = (
  t: string | null | undefined,
): string | null => (t ? new Date(t).toISOString() : null);

export function toJob(row: JobRow): Job {
  // Timestamps written by jsonb_build_object come in PostgreSQL's text form: normalize to ISO.
  const errors = (Array.isArray(row.errors) ? row.errors : []).map((e) => ({
    ...e,
    at: isoText(e.at)!,
    startedAt: isoText(e.startedAt),
  }));
  const last = errors.at(-1);
  return {
    id: String(row.id),
    queue: row.queue,
    kind: row.kind,
    state: row.state,
    payload: row.payload,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    runAt: row.run_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    leaseExpiresAt: iso(row.lease_expires_at),
    workerId: row.worker_id,
    deadReason: row.dead_reason,
    lastError: last ? { code: last.code, message: last.message, at: last.at } : null,
    errors,
    result: row.result ?? null,
    retryOf: row.retry_of === null ? null : String(row.retry_of),
    idempotencyKey: row.idempotency_key,
    tags: row.tags ?? [],
    createdBy: row.created_by,
    cancelRequested: row.cancel_requested,
    // '' is a keyed queue's "no key" (src/queue/enqueue.ts).
    concurrencyKey: row.concurrency_key || null,
    composition: compositionOf(row),
  };
}

/** What a handler needs to run one leased attempt, and to fence its outcome. */
export interface LeasedJob {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number | null;
  /** The attempt's secret (base64url, 43 characters): what fences its writes. */
  leaseToken: string;
  /**
   * The fencing number (`lease_token` column, decimal): grows with every lease, for receivers
   * that order attempts. Not a credential.
   */
  fencingToken: string;
  priority: number;
  tags: string[];
  idempotencyKey: string | null;
  createdAt: Date;
  runAt: Date;
  leasedAt: Date;
  leaseExpiresAt: Date;
  /** The enqueue span's W3C headers (`traceparent`, `tracestate`); null when it was not traced. */
  traceContext: Record<string, string> | null;
  /** The job waited for parents: their results are one query away (src/queue/dependencies.ts). */
  hasParents?: boolean;
}

/**
 * The triple that every write after a lease is fenced on; `leaseToken` is the attempt's secret
 * (`lease_secret`), never the fencing number.
 */
export interface Fence {
  id: string;
  attempt: number;
  leaseToken: string;
}
