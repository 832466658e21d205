import { type Attempt, type AttemptEvent, move, type Run } from "./attempt.ts";
import type { Clock } from "./clock.ts";
import type { CompletionBatch } from "./completions.ts";
import type { Deadlines } from "./deadlines.ts";
import type { Prefetch } from "./prefetch.ts";
import { runAttempt, type RunDeps } from "./run.ts";

export interface SlotDeps extends Omit<RunDeps, "succeed"> {
  prefetch: Prefetch;
  completions: CompletionBatch;
  deadlines: Deadlines;
  clock: Clock;
  concurrency: number;
  /** The worker's full lease: a held job leased for less starts on a short (prefetch) lease. */
  leaseMs: number;
  /** True once the worker stops: no held job starts any more. */
  stopping(): boolean;
  onAttempt?: (e: AttemptEvent) => void;
}

/**
 * The worker's concurrency: starts held attempts in the free slots, oldest first, and frees a
 * slot when its attempt ends (a success as soon as its completion is buffered).
 */
export class Slots {
  readonly #run: RunDeps;

  constructor(private readonly d: SlotDeps) {
    this.#run = { ...d, succeed: (a, run, result) => this.succeed(a, run, result) };
  }

  /** Starts held (prefetched) attempts in the free slots, oldest first. */
  startHeld(): void {
    const { attempts, prefetch, concurrency } = this.d;
    while (attempts.busy < concurrency && !this.d.stopping()) {
      const a = prefetch.next();
      if (!a) return;
      this.#begin(a);
    }
  }

  succeed(a: Attempt, run: Run, result: unknown): void {
    if (a.state.tag !== "running") return;
    this.d.prefetch.observe(this.d.clock.now() - run.startedAt);
    this.d.completions.add(a, run, result);
    // Its slot is free now (the completion is only waiting to be written): start the next held
    // job at once rather than at the next loop turn, so prefetched jobs run back to back.
    this.startHeld();
    this.d.wake();
  }

  /** The attempt ended (recorded, lost or not recordable): free what it held. */
  settle(a: Attempt, run: Run, status?: AttemptEvent["status"]): void {
    if (status) {
      this.d.onAttempt?.({ job: a.job, status, durationMs: this.d.clock.now() - run.startedAt });
    }
    this.d.attempts.delete(a);
    this.startHeld();
    this.d.wake();
  }

  #begin(a: Attempt): void {
    if (a.state.tag !== "held") return;
    const { job, queue } = a;
    const { leasedAt, leaseMs } = a.state;
    const startedAt = this.d.clock.now();
    // A timer fires at once for delays past 2^31-1 ms; no attempt runs 24 days anyway.
    const timeoutMs = Math.min(job.timeoutMs ?? queue.effective.timeoutMs, 2 ** 31 - 1);
    const run: Run = {
      controller: new AbortController(),
      startedAt,
      timeoutAt: startedAt + timeoutMs,
      timeoutMs,
      leaseDeadline: leasedAt + leaseMs,
      shortLease: leaseMs < this.d.leaseMs,
    };
    move(a, { tag: "running", run });
    this.d.attempts.add(a);
    this.d.deadlines.arm(Math.min(run.timeoutAt, run.leaseDeadline));
    runAttempt(a, run, this.#run);
  }
}
