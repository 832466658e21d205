import type { Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { backoffDelayMs } from "./backoff.ts";
import type { Fence } from "./job.ts";
import { jobNotFound } from "./inspect.ts";
import { completeJobs, failJob, staleLease } from "./outcome.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults, getQueue } from "./queues.ts";
import { retryAfterMs } from "../delivery/retry_after.ts";

/**
 * Asynchronous completion: an http handler answers 202 and later posts a signed callback
 * (`POST /v1/callbacks`, handled by `handleCallback` in src/delivery/callback_handler.ts).
 */

/**
 * Marks a running attempt as waiting for its callback: no worker heartbeats it any more, so its
 * lease is stretched to the attempt's deadline (leased_at + timeout). If no callback arrives by
 * then, the reaper fails the attempt as CALLBACK_TIMEOUT and it retries. Returns false when the
 * attempt is no longer running (a fast callback may already have finished it: that is fine).
 */
export async function awaitCallback(sql: Sql, fence: Fence, timeoutMs: number): Promise<boolean> {
  const rows = await sql`
    UPDATE sluice.jobs SET
      callback_token = lease_token,
      lease_expires_at = greatest(now(), leased_at + ${timeoutMs} * interval '1 millisecond')
    WHERE id = ${fence.id} AND attempt = ${fence.attempt} AND lease_token = ${fence.leaseToken}
      AND state = 'running'
    RETURNING id`;
  return rows.length > 0;
}

export interface CallbackInput {
  eventId: string;
  jobId: string;
  attempt: number;
  leaseToken: string;
  status: "succeeded" | "failed";
  result?: unknown;
  error?: { code: string; message: string; retryable?: boolean; retryAfter?: number | string };
}

export interface CallbackOutcome {
  jobId: string;
  state: "succeeded" | "retrying" | "available" | "dead";
  runAt?: string;
}

/**
 * Applies one callback in one transaction: the eventId is recorded first (a replay finds it and
 * gets CALLBACK_REPLAYED), then the outcome is written fenced on (jobId, attempt, leaseToken)
 * and `running` (an older attempt gets STALE_LEASE). Any refusal rolls the transaction back, so
 * a refused callback changes nothing — not even the event table.
 */
export async function applyCallback(
  sql: Sql,
  input: CallbackInput,
  { defaults = BUILTIN_DEFAULTS }: { defaults?: EngineDefaults } = {},
): Promise<CallbackOutcome> {
  return await sql.begin(async (txn) => {
    const tx = txn as unknown as Sql;
    const inserted = await tx`
      INSERT INTO sluice.callback_events (event_id, job_id, attempt, status)
      VALUES (${input.eventId}, ${input.jobId}, ${input.attempt}, ${input.status})
      ON CONFLICT (event_id) DO NOTHING
      RETURNING event_id`;
    if (inserted.length === 0) {
      throw new SluiceError(
        "CALLBACK_REPLAYED",
        `callback event '${input.eventId}' was already applied`,
        { eventId: input.eventId },
      );
    }
    const [job] = await tx<{ queue: string }[]>`
      SELECT queue FROM sluice.jobs WHERE id = ${input.jobId} FOR UPDATE`;
    if (!job) throw jobNotFound(input.jobId);
    const fence: Fence = { id: input.jobId, attempt: input.attempt, leaseToken: input.leaseToken };
    if (input.status === "succeeded") {
      const done = await completeJobs(tx, [{ ...fence, result: input.result ?? null }]);
      if (!done.has(fence.id)) throw staleLease(fence);
      return { jobId: input.jobId, state: "succeeded" };
    }
    const queue = await getQueue(tx, job.queue, defaults).catch(() => null);
    const backoff = queue?.effective.backoff ??
      { baseMs: defaults.backoffBaseMs, maxMs: defaults.backoffMaxMs };
    const e = input.error ?? { code: "CALLBACK_FAILED", message: "the handler reported failure" };
    const r = await failJob(tx, fence, {
      code: e.code,
      message: e.message,
      retryable: e.retryable ?? true,
      retryAfterMs: retryAfterMs(e.retryAfter),
      workerId: null,
    }, backoffDelayMs(input.attempt, backoff));
    return { jobId: input.jobId, state: r.state, runAt: r.runAt.toISOString() };
  });
}
