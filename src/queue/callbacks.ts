import { atomically, type Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { backoffDelayMs } from "./backoff.ts";
import type { Fence } from "./job.ts";
import { jobNotFound } from "./inspect.ts";
import { completeJobs, failJob, fencedOn, staleLease } from "./outcome.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults, getQueue } from "./queues.ts";
import { retryAfterMs } from "./retry_after.ts";

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
export async function awaitCallback(sql: Db, fence: Fence, timeoutMs: number): Promise<boolean> {
  const rows = await sql`
    UPDATE sluice.jobs SET
      callback_token = lease_token,
      lease_expires_at = greatest(now(), leased_at + ${timeoutMs} * interval '1 millisecond')
    WHERE ${fencedOn(sql, fence)}
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
 * like every write after a lease, and only for an attempt that awaits its callback. The
 * leaseToken is the attempt's secret, sent only with that attempt's push (`sluice-lease-token`),
 * so the signing secret alone (which every receiver holds) cannot finish another receiver's job,
 * and a receiver cannot finish its own job before answering 202 (CALLBACK_NOT_AWAITED, 409: the
 * callback came before Sluice recorded the 202; sending it again shortly after succeeds). An
 * older attempt, another token or an expired lease get STALE_LEASE. Any refusal rolls the
 * transaction back, so a refused callback changes nothing — not even the event table.
 */
export async function applyCallback(
  sql: Db,
  input: CallbackInput,
  { defaults = BUILTIN_DEFAULTS }: { defaults?: EngineDefaults } = {},
): Promise<CallbackOutcome> {
  return await atomically(sql, async (tx) => {
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
    const fence: Fence = { id: input.jobId, attempt: input.attempt, leaseToken: input.leaseToken };
    // Locked, so what it says still holds when the fenced write below runs; it only picks the
    // refusal, the write's own fence decides.
    const [job] = await tx<{ queue: string; holder: boolean; awaiting: boolean }[]>`
      SELECT queue,
        coalesce(state = 'running' AND attempt = ${fence.attempt}
          AND lease_secret = ${fence.leaseToken}::text AND lease_expires_at >= now(), false)
          AS holder,
        coalesce(callback_token = lease_token, false) AS awaiting
      FROM sluice.jobs WHERE id = ${fence.id} FOR UPDATE`;
    if (!job) throw jobNotFound(input.jobId);
    if (job.holder && !job.awaiting) {
      throw new SluiceError(
        "CALLBACK_NOT_AWAITED",
        `job ${fence.id} attempt ${fence.attempt} is not waiting for a callback: its push was ` +
          "not answered 202, or Sluice has not recorded the 202 yet (send the callback again)",
        { jobId: fence.id, attempt: fence.attempt },
      );
    }
    const scope = { awaitingCallback: true };
    if (input.status === "succeeded") {
      const done = await completeJobs(tx, [{ ...fence, result: input.result ?? null }], { scope });
      if (!done.has(fence.id)) throw staleLease(fence);
      return { jobId: input.jobId, state: "succeeded" };
    }
    const queue = await getQueue(tx, job.queue, defaults).catch(() => null);
    const backoff = queue?.effective.backoff ??
      { baseMs: defaults.backoffBaseMs, maxMs: defaults.backoffMaxMs };
    const e = input.error ?? { code: "CALLBACK_FAILED", message: "the handler reported failure" };
    const r = await failJob(
      tx,
      fence,
      {
        code: e.code,
        message: e.message,
        retryable: e.retryable ?? true,
        retryAfterMs: retryAfterMs(e.retryAfter),
        workerId: null,
      },
      backoffDelayMs(input.attempt, backoff),
      scope,
    );
    return { jobId: input.jobId, state: r.state, runAt: r.runAt.toISOString() };
  });
}
