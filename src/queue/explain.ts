import type { Db } from "../db/connect.ts";
import type { Job } from "./job.ts";
import { getJob } from "./inspect.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults, getQueue } from "./queues.ts";
import { WORKER_STALE_AFTER_MS } from "./workers.ts";
import { heldForPrefetch } from "./prefetch_lease.ts";
import { getCircuit, originOf } from "./circuits.ts";
import { explainKeyLimit } from "./key_limits.ts";
import { explainBlocked } from "./dependencies.ts";

export interface Explanation {
  code: string;
  sentence: string;
  facts: Record<string, unknown>;
}

/**
 * Why a job is where it is, in one sentence an operator can act on, with the facts behind it
 * (DESIGN.md "Explain" codes).
 */
export async function explainJob(
  sql: Db,
  id: string,
  opts: { ownedBy?: string | null; defaults?: EngineDefaults } = {},
): Promise<{ job: Job; explain: Explanation }> {
  const job = await getJob(sql, id, opts);
  return { job, explain: await explain(sql, job, opts.defaults ?? BUILTIN_DEFAULTS) };
}

async function explain(sql: Db, job: Job, defaults: EngineDefaults): Promise<Explanation> {
  const last = job.lastError;
  const lastFact = last ? { lastError: last } : {};
  const attempts = `attempt ${job.attempt} of ${job.maxAttempts}`;
  if (job.state === "scheduled" || job.state === "retrying" || job.state === "available") {
    const open = await explainCircuit(sql, job, defaults);
    if (open) return open;
  }
  if (job.state === "running") {
    const waiting = await explainAwaitingCallback(sql, job);
    if (waiting) return waiting;
  }
  switch (job.state) {
    case "blocked":
      return await explainBlocked(sql, job);
    case "scheduled":
      return {
        code: "SCHEDULED_FOR_LATER",
        sentence: `Job ${job.id} is scheduled to run at ${job.runAt}; it becomes available then.`,
        facts: { runAt: job.runAt },
      };
    case "retrying":
      return {
        code: "WAITING_FOR_BACKOFF",
        sentence: `Job ${job.id} failed ${attempts}${
          last ? ` with ${last.code} ("${last.message}")` : ""
        } and waits for its backoff; the next attempt starts at ${job.runAt}.`,
        facts: {
          runAt: job.runAt,
          attempt: job.attempt,
          maxAttempts: job.maxAttempts,
          ...lastFact,
        },
      };
    case "running": {
      const [row] = await sql<{ expired: boolean; held: boolean; leased_at: Date | null }[]>`
        SELECT lease_expires_at < now() AS expired, ${heldForPrefetch(sql)} AS held, leased_at
        FROM sluice.jobs WHERE id = ${job.id}`;
      if (row?.expired) {
        return {
          code: "LEASE_EXPIRED",
          sentence:
            `Job ${job.id}'s lease held by worker ${job.workerId} expired at ${job.leaseExpiresAt} without a heartbeat; the reaper will make it available again (or dead if that was the last attempt).`,
          facts: {
            workerId: job.workerId,
            leaseExpiresAt: job.leaseExpiresAt,
            attempt: job.attempt,
          },
        };
      }
      if (row?.held) {
        const leasedAt = row.leased_at?.toISOString() ?? null;
        return {
          code: "HELD_BY_WORKER",
          sentence:
            `Job ${job.id} is held by worker ${job.workerId}, not started: it was leased at ${leasedAt} beyond the worker's free slots (prefetch) and starts when a slot frees, or goes back to the queue within a second; its short lease runs until ${job.leaseExpiresAt}.`,
          facts: {
            workerId: job.workerId,
            leasedAt,
            leaseExpiresAt: job.leaseExpiresAt,
            attempt: job.attempt,
          },
        };
      }
      return {
        code: "LEASED_BY_WORKER",
        sentence:
          `Job ${job.id} is running ${attempts} on worker ${job.workerId}; its lease runs until ${job.leaseExpiresAt} and is extended by heartbeats.${
            job.cancelRequested
              ? " Cancellation was requested: the worker aborts it at its next heartbeat."
              : ""
          }`,
        facts: {
          workerId: job.workerId,
          leaseExpiresAt: job.leaseExpiresAt,
          attempt: job.attempt,
          cancelRequested: job.cancelRequested,
        },
      };
    }
    case "available":
      return await explainAvailable(sql, job, defaults);
    case "succeeded":
      return {
        code: "SUCCEEDED",
        sentence: `Job ${job.id} succeeded on ${attempts} at ${job.finishedAt}.`,
        facts: { finishedAt: job.finishedAt, workerId: job.workerId },
      };
    case "cancelled":
      return {
        code: "CANCELLED",
        sentence:
          `Job ${job.id} was cancelled at ${job.finishedAt}; retry or replay it to run it again.`,
        facts: { finishedAt: job.finishedAt },
      };
    case "dead": {
      const reason = job.deadReason ?? "DEAD_MAX_ATTEMPTS";
      const why: Record<string, string> = {
        DEAD_MAX_ATTEMPTS: `used all ${job.maxAttempts} attempts`,
        DEAD_PERMANENT_ERROR: "failed with an error its handler declared permanent",
        DEAD_TIMEOUT: `timed out on its last attempt (${job.maxAttempts})`,
        DEAD_LEASE_EXPIRED:
          `lost its worker on its last attempt (${job.maxAttempts}): the lease expired`,
      };
      return {
        code: reason,
        sentence: `Job ${job.id} is dead: it ${why[reason] ?? reason}${
          last ? `; the last error was ${last.code} ("${last.message}")` : ""
        }. Replay it once the cause is fixed.`,
        facts: { deadReason: reason, attempts: job.attempt, ...lastFact },
      };
    }
  }
}

async function explainAvailable(
  sql: Db,
  job: Job,
  defaults: EngineDefaults,
): Promise<Explanation> {
  const last = job.lastError;
  const lastFact = last ? { lastError: last } : {};
  const queue = await getQueue(sql, job.queue, defaults).catch(() => null);
  if (queue?.paused) {
    return {
      code: "QUEUE_PAUSED",
      sentence:
        `Job ${job.id} is ready but queue '${job.queue}' is paused; resume the queue to let it run.`,
      facts: { queue: job.queue },
    };
  }
  const [w] = await sql<{ live: number }[]>`
    SELECT count(*)::int AS live FROM sluice.workers
    WHERE stopped_at IS NULL
      AND last_seen_at > now() - ${WORKER_STALE_AFTER_MS} * interval '1 millisecond'
      AND (${job.queue} = ANY(queues) OR '*' = ANY(queues))`;
  if ((w?.live ?? 0) === 0 && queue?.effective.delivery.mode !== "pull") {
    return {
      code: "NO_WORKER_FOR_QUEUE",
      sentence:
        `Job ${job.id} is ready but no live worker serves queue '${job.queue}'; start one with \`sluice worker --queues ${job.queue}\`.`,
      facts: { queue: job.queue, liveWorkers: 0 },
    };
  }
  const concurrency = queue?.effective.concurrency ?? null;
  if (concurrency !== null) {
    const [r] = await sql<{ running: number }[]>`
      SELECT count(*)::int AS running FROM sluice.jobs WHERE state = 'running' AND queue = ${job.queue}`;
    if ((r?.running ?? 0) >= concurrency) {
      return {
        code: "QUEUE_CONCURRENCY_FULL",
        sentence:
          `Job ${job.id} waits: queue '${job.queue}' already runs ${r?.running} jobs, its concurrency limit.`,
        facts: { queue: job.queue, running: r?.running, concurrency },
      };
    }
  }
  const keyed = await explainKeyLimit(sql, job, queue?.effective.keyConcurrency ?? null);
  if (keyed) return keyed;
  const rate = queue?.effective.rateLimit ?? null;
  if (rate !== null) {
    const [r] = await sql<{ used: number; resets: Date | null }[]>`
      SELECT CASE WHEN rate_window_start > now() - ${rate.perMs} * interval '1 millisecond'
        THEN rate_window_count ELSE 0 END AS used,
        rate_window_start + ${rate.perMs} * interval '1 millisecond' AS resets
      FROM sluice.queues WHERE name = ${job.queue}`;
    if ((r?.used ?? 0) >= rate.count) {
      return {
        code: "RATE_LIMITED",
        sentence:
          `Job ${job.id} waits: queue '${job.queue}' has started ${r?.used} jobs in this window, its rate limit of ${rate.count} per ${rate.perMs} ms; the window resets at ${r?.resets?.toISOString()}.`,
        facts: {
          queue: job.queue,
          used: r?.used,
          rateLimit: rate,
          resetsAt: r?.resets?.toISOString(),
        },
      };
    }
  }
  const [ahead] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (
      SELECT 1 FROM sluice.jobs
      WHERE state = 'available' AND queue = ${job.queue}
        AND (priority > ${job.priority} OR (priority = ${job.priority}
          AND (run_at, id) < (${job.runAt}::timestamptz, ${job.id}::bigint)))
      LIMIT 10001) a`;
  const n = ahead?.n ?? 0;
  return {
    code: "WAITING_FOR_WORKER",
    sentence: `Job ${job.id} is ready and waits for a free worker slot; ${
      n > 10000 ? "more than 10,000" : n
    } jobs are ahead of it in queue '${job.queue}'.${
      last ? ` Its last attempt failed with ${last.code} ("${last.message}").` : ""
    }`,
    facts: { queue: job.queue, jobsAhead: n, ...lastFact },
  };
}

/** A waiting job of an http queue whose target's circuit is open is held back by it. */
async function explainCircuit(
  sql: Db,
  job: Job,
  defaults: EngineDefaults,
): Promise<Explanation | null> {
  const queue = await getQueue(sql, job.queue, defaults).catch(() => null);
  const d = queue?.effective.delivery;
  if (d?.mode !== "http") return null;
  let origin: string;
  try {
    origin = originOf(d.url);
  } catch {
    return null;
  }
  const c = await getCircuit(sql, origin);
  if (!c || c.state === "closed") return null;
  const when = c.state === "open"
    ? `it may close after its cooldown ends at ${c.openUntil}, when one probe request is sent`
    : "a probe request is in flight; its success closes the circuit";
  return {
    code: "CIRCUIT_OPEN",
    sentence:
      `Job ${job.id} is held back: the circuit for ${origin} is ${c.state} after repeated failures (last: ${
        c.lastFailure ?? "unknown"
      }); ${when}. Its attempts are not consumed while it waits; the next try is at ${job.runAt}.`,
    facts: {
      origin,
      circuitState: c.state,
      openedAt: c.openedAt,
      openUntil: c.openUntil,
      consecutiveFailures: c.consecutiveFailures,
      lastFailure: c.lastFailure,
      runAt: job.runAt,
    },
  };
}

/** A running job that answered 202 waits for its signed callback, not for a worker. */
async function explainAwaitingCallback(sql: Db, job: Job): Promise<Explanation | null> {
  const [row] = await sql<{ waiting: boolean }[]>`
    SELECT callback_token IS NOT NULL AND callback_token = lease_token AS waiting
    FROM sluice.jobs WHERE id = ${job.id}`;
  if (!row?.waiting) return null;
  return {
    code: "AWAITING_CALLBACK",
    sentence:
      `Job ${job.id} was accepted by its http handler (202) on attempt ${job.attempt} and waits for a signed callback to POST /v1/callbacks; without one by ${job.leaseExpiresAt} the attempt fails as CALLBACK_TIMEOUT and retries.`,
    facts: { attempt: job.attempt, deadline: job.leaseExpiresAt },
  };
}
