import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { assertQueueName } from "./names.ts";

/** How a queue's jobs reach code (DESIGN.md "Delivery modes"). */
export type Delivery =
  | { mode: "inline" }
  | { mode: "exec"; command: string | string[]; timeoutMs?: number }
  | {
    mode: "http";
    url: string;
    timeoutMs?: number;
    headers?: Record<string, string>;
    /** The `aud` of the ID token each push carries (src/delivery/push_token.ts); none: no token. */
    oidcAudience?: string;
  }
  | { mode: "pull" };

/**
 * A queue's policies as stored: an absent key takes the environment default, `null` means no
 * limit. Durations are milliseconds.
 */
export interface QueuePolicy {
  concurrency?: number | null;
  /** At most this many running jobs per `concurrencyKey` (docs/flow-control.md). */
  keyConcurrency?: number | null;
  rateLimit?: { count: number; perMs: number } | null;
  maxPayloadBytes?: number | null;
  maxEnqueuePerMinute?: number | null;
  maxQueueSize?: number | null;
  maxAttempts?: number;
  backoff?: { baseMs: number; maxMs: number };
  timeoutMs?: number | null;
  retentionMs?: number | null;
  /** Refuse enqueues (QUEUE_PAUSED) while paused, instead of accepting them to run later. */
  rejectWhenPaused?: boolean;
  /**
   * Set by `drain --refuse-new`, cleared by resume or `drain --accept`: enqueues are refused
   * (QUEUE_DRAINING) while the queue keeps processing to empty. Kept in the policy so the
   * enqueue path's cached-policy guard (enqueue.ts) notices the change like any other.
   */
  refuseNew?: boolean;
  delivery?: Delivery;
}

/** Environment defaults that a queue's policy falls back to. */
export interface EngineDefaults {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  taskTimeoutMs: number;
  maxPayloadBytes: number | null;
  maxEnqueuePerMinute: number | null;
  maxQueueSize: number | null;
}

/**
 * The defaults as the engine uses them, picked from a loaded configuration (src/config/vars/queues.ts:
 * SLUICE_MAX_ATTEMPTS, SLUICE_BACKOFF_*, …). Takes any object with these fields, so the engine
 * imports nothing of the configuration layer.
 */
export function engineDefaults(c: EngineDefaults): EngineDefaults {
  return {
    maxAttempts: c.maxAttempts,
    backoffBaseMs: c.backoffBaseMs,
    backoffMaxMs: c.backoffMaxMs,
    taskTimeoutMs: c.taskTimeoutMs,
    maxPayloadBytes: c.maxPayloadBytes,
    maxEnqueuePerMinute: c.maxEnqueuePerMinute,
    maxQueueSize: c.maxQueueSize,
  };
}

export const BUILTIN_DEFAULTS: EngineDefaults = {
  maxAttempts: 5,
  backoffBaseMs: 1_000,
  backoffMaxMs: 3_600_000,
  taskTimeoutMs: 300_000,
  maxPayloadBytes: 1_048_576,
  maxEnqueuePerMinute: null,
  maxQueueSize: null,
};

/** Every policy with a value: what the engine enforces for this queue. */
export interface EffectivePolicy {
  concurrency: number | null;
  keyConcurrency: number | null;
  rateLimit: { count: number; perMs: number } | null;
  maxPayloadBytes: number | null;
  maxEnqueuePerMinute: number | null;
  maxQueueSize: number | null;
  maxAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  timeoutMs: number;
  retentionMs: number | null;
  rejectWhenPaused: boolean;
  refuseNew: boolean;
  delivery: Delivery;
}

export interface Queue {
  name: string;
  paused: boolean;
  policy: QueuePolicy;
  effective: EffectivePolicy;
  createdAt: string;
  updatedAt: string;
}

interface QueueRow {
  name: string;
  paused: boolean;
  policy: QueuePolicy;
  created_at: Date;
  updated_at: Date;
}

export function effectivePolicy(policy: QueuePolicy, d: EngineDefaults): EffectivePolicy {
  const pick = <T>(v: T | undefined, fallback: T): T => (v === undefined ? fallback : v);
  return {
    concurrency: pick(policy.concurrency, null),
    keyConcurrency: pick(policy.keyConcurrency, null),
    rateLimit: pick(policy.rateLimit, null),
    maxPayloadBytes: pick(policy.maxPayloadBytes, d.maxPayloadBytes),
    maxEnqueuePerMinute: pick(policy.maxEnqueuePerMinute, d.maxEnqueuePerMinute),
    maxQueueSize: pick(policy.maxQueueSize, d.maxQueueSize),
    maxAttempts: pick(policy.maxAttempts, d.maxAttempts),
    backoff: pick(policy.backoff, { baseMs: d.backoffBaseMs, maxMs: d.backoffMaxMs }),
    timeoutMs: pick(policy.timeoutMs, d.taskTimeoutMs) ?? d.taskTimeoutMs,
    retentionMs: pick(policy.retentionMs, null),
    rejectWhenPaused: pick(policy.rejectWhenPaused, false),
    refuseNew: pick(policy.refuseNew, false),
    delivery: pick(policy.delivery, { mode: "inline" }),
  };
}

function toQueue(row: QueueRow, d: EngineDefaults): Queue {
  return {
    name: row.name,
    paused: row.paused,
    policy: row.policy,
    effective: effectivePolicy(row.policy, d),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export async function listQueues(sql: Db, d: EngineDefaults = BUILTIN_DEFAULTS): Promise<Queue[]> {
  const rows = await sql<QueueRow[]>`
    SELECT name, paused, policy, created_at, updated_at FROM sluice.queues ORDER BY name`;
  return rows.map((r) => toQueue(r, d));
}

export async function getQueues(
  sql: Db,
  names: readonly string[],
  d: EngineDefaults = BUILTIN_DEFAULTS,
): Promise<Map<string, Queue>> {
  const rows = await sql<QueueRow[]>`
    SELECT name, paused, policy, created_at, updated_at FROM sluice.queues
    WHERE name = ANY(${names as string[]})`;
  return new Map(rows.map((r) => [r.name, toQueue(r, d)]));
}

export async function getQueue(
  sql: Db,
  name: string,
  d: EngineDefaults = BUILTIN_DEFAULTS,
): Promise<Queue> {
  const q = (await getQueues(sql, [name], d)).get(name);
  if (!q) throw queueNotFound(name);
  return q;
}

export function queueNotFound(name: string): SluiceError {
  return new SluiceError("QUEUE_NOT_FOUND", `queue '${name}' does not exist`, { queue: name });
}

export async function createQueue(
  sql: Db,
  name: string,
  policy: QueuePolicy = {},
  d: EngineDefaults = BUILTIN_DEFAULTS,
): Promise<Queue> {
  assertQueueName(name);
  const rows = await sql<QueueRow[]>`
    INSERT INTO sluice.queues (name, policy) VALUES (${name}, ${
    JSON.stringify(clean(policy))
  }::text::jsonb)
    ON CONFLICT (name) DO NOTHING
    RETURNING name, paused, policy, created_at, updated_at`;
  const row = rows[0];
  if (!row) {
    throw new SluiceError("QUEUE_EXISTS", `queue '${name}' already exists`, { queue: name });
  }
  // Running workers learn of the queue now rather than at their next queue-list refresh (5 s):
  // a notification naming a queue they do not know makes them reload the list (worker.ts).
  await sql`SELECT pg_notify('sluice_jobs', ${name})`;
  return toQueue(row, d);
}

/** Merges `patch` into the stored policy: a key set to undefined is left as it was. */
export async function updateQueuePolicy(
  sql: Db,
  name: string,
  patch: QueuePolicy,
  d: EngineDefaults = BUILTIN_DEFAULTS,
): Promise<Queue> {
  // Turning on keyConcurrency stamps the queue's waiting jobs that have no key with '' (no key,
  // walked like one) in the same statement: the keyed pick finds NULL-key jobs only among the
  // first 1,000 waiting (src/queue/key_limits.ts), so a backlog of them behind keyed jobs at
  // their limit would otherwise wait indefinitely. Only an enqueue that raced this update with a
  // stale policy can still add one; the 1,000-job window is the fallback for those.
  const keyed = typeof patch.keyConcurrency === "number";
  const rows = await sql<QueueRow[]>`
    WITH q AS (
      UPDATE sluice.queues SET policy = policy || ${
    JSON.stringify(clean(patch))
  }::text::jsonb, updated_at = now()
      WHERE name = ${name}
      RETURNING name, paused, policy, created_at, updated_at
    ), stamped AS (
      UPDATE sluice.jobs SET concurrency_key = ''
      WHERE ${keyed} AND queue = ${name} AND concurrency_key IS NULL
        AND state IN ('blocked', 'scheduled', 'available', 'retrying')
        AND EXISTS (SELECT 1 FROM q)
      RETURNING 1
    )
    SELECT * FROM q`;
  const row = rows[0];
  if (!row) throw queueNotFound(name);
  return toQueue(row, d);
}

export async function setQueuePaused(
  sql: Db,
  name: string,
  paused: boolean,
  d: EngineDefaults = BUILTIN_DEFAULTS,
): Promise<Queue> {
  // Resuming also accepts enqueues again after a `drain --refuse-new`.
  const rows = await sql<QueueRow[]>`
    UPDATE sluice.queues SET paused = ${paused}, updated_at = now(),
      policy = CASE WHEN ${paused} THEN policy ELSE policy - 'refuseNew' END
    WHERE name = ${name}
    RETURNING name, paused, policy, created_at, updated_at`;
  const row = rows[0];
  if (!row) throw queueNotFound(name);
  if (!paused) await sql`SELECT pg_notify('sluice_jobs', ${name})`;
  return toQueue(row, d);
}

/** Refuses new enqueues (QUEUE_DRAINING) or accepts them again; leasing is not affected. */
export async function setQueueRefusingNew(
  sql: Db,
  name: string,
  refusing: boolean,
  d: EngineDefaults = BUILTIN_DEFAULTS,
): Promise<Queue> {
  const rows = await sql<QueueRow[]>`
    UPDATE sluice.queues SET updated_at = now(),
      policy = CASE WHEN ${refusing} THEN policy || '{"refuseNew": true}' ELSE policy - 'refuseNew' END
    WHERE name = ${name}
    RETURNING name, paused, policy, created_at, updated_at`;
  const row = rows[0];
  if (!row) throw queueNotFound(name);
  return toQueue(row, d);
}

/** Drops undefined keys: postgres.js refuses undefined, and jsonb `||` would keep nothing else. */
function clean(policy: QueuePolicy): Record<string, unknown> {
  return Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined));
}
