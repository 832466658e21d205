import { isSluiceError } from "../errors.ts";
import { backoffDelayMs } from "../queue/backoff.ts";
import { awaitCallback } from "../queue/callbacks.ts";
import { deferJob } from "../queue/defer.ts";
import { failJob, finishCancelled } from "../queue/outcome.ts";
import type { Attempt, AttemptEvent, Outcome, Run } from "./attempt.ts";
import type { WorkerContext } from "./context.ts";
import { JobFailure } from "./failure.ts";

export interface OutcomeDeps extends WorkerContext {
  /** Feeds a run time into the prefetch average. */
  observe(ms: number): void;
  /** The attempt ended: free what it held. */
  settle(a: Attempt, run: Run, status?: AttemptEvent["status"]): void;
}

/**
 * Records the outcomes written one attempt at a time (failures and timeouts, deferrals, callbacks
 * awaited, cancellations) and lost leases; successes go through the completion batch. Each takes a running attempt
 * through deciding and writing to done (or lost), and ignores one that is no longer running.
 */
export class Outcomes {
  constructor(private readonly deps: OutcomeDeps) {}

  async fail(a: Attempt, failure: JobFailure, status: "failed" | "timeout"): Promise<void> {
    const run = this.#decide(a, status);
    if (!run) return;
    const { sql, workerId, clock, log, onAttempt } = this.deps;
    const { job, queue } = a;
    const ms = clock.now() - run.startedAt;
    this.deps.observe(ms);
    const delay = backoffDelayMs(job.attempt, queue.effective.backoff);
    let ended: "done" | "lost" = "done";
    try {
      const r = await failJob(sql, job, {
        code: failure.code,
        message: failure.message,
        retryable: failure.retryable,
        retryAfterMs: failure.retryAfterMs,
        workerId,
      }, delay);
      const fields = {
        job_id: job.id,
        queue: job.queue,
        kind: job.kind,
        attempt: job.attempt,
        code: failure.code,
        error: failure.message,
      };
      if (r.state === "dead") {
        log.warn("job_failed_permanently", { ...fields, dead_reason: r.deadReason });
      } else {
        log.info("job_failed_retrying", { ...fields, retry_at: r.runAt.toISOString() });
      }
      onAttempt?.({
        job,
        status: r.state === "dead" ? "dead" : status,
        durationMs: ms,
        code: failure.code,
      });
    } catch (e) {
      if (isSluiceError(e, "STALE_LEASE")) {
        ended = "lost";
        log.warn("stale_lease", { job_id: job.id, attempt: job.attempt, outcome: "failed" });
        onAttempt?.({ job, status: "lost", durationMs: ms });
      } else {
        // The lease will expire and the reaper retries the job: at-least-once still holds.
        log.error("outcome_not_recorded", { job_id: job.id, attempt: job.attempt, error: e });
      }
    }
    this.#end(a, run, status, ended);
  }

  /** Not attempted (open circuit): back to waiting without consuming the attempt. */
  async defer(a: Attempt, delayMs: number, reason: string): Promise<void> {
    const run = this.#decide(a, "deferred");
    if (!run) return;
    const { sql, log, clock, onAttempt } = this.deps;
    await deferJob(sql, a.job, delayMs, reason).catch((e) =>
      log.error("outcome_not_recorded", { job_id: a.job.id, error: e })
    );
    log.info("job_deferred", { job_id: a.job.id, delay_ms: delayMs, reason });
    onAttempt?.({ job: a.job, status: "deferred", durationMs: clock.now() - run.startedAt });
    this.#end(a, run, "deferred");
  }

  /**
   * The handler answered 202: the attempt stays running without heartbeats until its signed
   * callback, with its lease stretched to the attempt's deadline (the reaper then records
   * CALLBACK_TIMEOUT). Its slot is freed now.
   */
  async awaitCallback(a: Attempt): Promise<void> {
    const run = this.#decide(a, "awaiting_callback");
    if (!run) return;
    const { job, queue } = a;
    await awaitCallback(this.deps.sql, job, job.timeoutMs ?? queue.effective.timeoutMs).catch((
      e,
    ) =>
      // Unmarked, the lease simply expires and the reaper retries the job: at-least-once holds.
      this.deps.log.error("outcome_not_recorded", { job_id: job.id, error: e })
    );
    this.#end(a, run, "awaiting_callback", "done", "awaiting_callback");
  }

  /** An operator cancelled the running attempt: abort it and record it cancelled. */
  async cancel(a: Attempt): Promise<void> {
    if (a.state.tag !== "running") return;
    a.state.run.controller.abort(
      new JobFailure("CANCELLED", "cancelled by an operator", { retryable: false }),
    );
    const run = this.#decide(a, "cancelled")!;
    const { sql, workerId, log } = this.deps;
    const { job } = a;
    await finishCancelled(sql, job, workerId).catch((e) =>
      // Left running, the lease expires and the reaper takes it from there.
      log.error("outcome_not_recorded", { job_id: job.id, attempt: job.attempt, error: e })
    );
    log.info("job_cancelled", { job_id: job.id, attempt: job.attempt });
    this.#end(a, run, "cancelled", "done", "cancelled");
  }

  /** The attempt ran past its timeout: abort its handler and record a TIMEOUT failure. */
  timeOut(a: Attempt): void {
    if (a.state.tag !== "running") return;
    const { run } = a.state;
    const reason = new JobFailure(
      "TIMEOUT",
      `attempt ${a.job.attempt} ran longer than its timeout of ${run.timeoutMs} ms`,
    );
    run.controller.abort(reason);
    void this.fail(a, reason, "timeout");
  }

  /** A running attempt's lease is gone: abort its handler, which must not write any more. */
  lose(a: Attempt, message: string, fields: Record<string, unknown> = {}): void {
    if (a.state.tag !== "running") return;
    const { run } = a.state;
    run.controller.abort(new JobFailure("STALE_LEASE", message));
    this.deps.log.warn("lease_lost", { job_id: a.job.id, attempt: a.job.attempt, ...fields });
    this.deps.attempts.move(a, { tag: "lost" });
    this.deps.settle(a, run, "lost");
  }

  /** Running → deciding → writing; undefined when the attempt already went another way. */
  #decide(a: Attempt, outcome: Outcome): Run | undefined {
    if (a.state.tag !== "running") return undefined;
    const { run } = a.state;
    this.deps.attempts.move(a, { tag: "deciding", run, outcome });
    this.deps.attempts.move(a, { tag: "writing", run, outcome });
    return run;
  }

  #end(
    a: Attempt,
    run: Run,
    outcome: Outcome,
    ended: "done" | "lost" = "done",
    status?: AttemptEvent["status"],
  ): void {
    this.deps.attempts.move(a, ended === "done" ? { tag: "done", run, outcome } : { tag: "lost" });
    this.deps.settle(a, run, status);
  }
}
