import type { Attempt } from "./attempt.ts";
import type { Clock, TimerId } from "./clock.ts";

/**
 * One timer for every attempt's deadlines, set for the earliest (Perf, issue #8: two timers per
 * attempt, set and cleared, were the largest item of the worker's own CPU time on no-op jobs).
 * It only moves earlier in `arm`; when it fires, `onDue` handles what is due and returns the
 * next deadline, so a finished attempt costs nothing.
 */
export class Deadlines {
  #timer?: TimerId;
  #at?: number;

  constructor(private readonly clock: Clock, private readonly onDue: (now: number) => number) {}

  arm(at: number): void {
    if (this.#at !== undefined && this.#at <= at) return;
    this.clock.clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = this.clock.setTimeout(
      () => this.#fire(),
      Math.max(0, Math.ceil(at - this.clock.now())),
    );
  }

  stop(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = this.#at = undefined;
  }

  #fire(): void {
    this.#timer = this.#at = undefined;
    // 1 ms of slack: a timer may wake a fraction of a millisecond before now() reaches its
    // deadline, and firing that early is harmless.
    const next = this.onDue(this.clock.now() + 1);
    if (next !== Infinity) this.arm(next);
  }
}

/**
 * A lease that ran out by this process's clock (a worker cut off from PostgreSQL: heartbeats
 * hang or fail) comes first when it is also the earlier deadline: the reaper hands the job to
 * another worker right after the expiry. Returns the next deadline of the attempts still running.
 */
export function checkDeadlines(
  attempts: Iterable<Attempt>,
  now: number,
  on: { leaseExpired(a: Attempt): void; timedOut(a: Attempt): void },
): number {
  let next = Infinity;
  for (const a of [...attempts]) {
    if (a.state.tag !== "running") continue;
    const { leaseDeadline, timeoutAt } = a.state.run;
    if (leaseDeadline <= now && leaseDeadline <= timeoutAt) on.leaseExpired(a);
    else if (timeoutAt <= now) on.timedOut(a);
    else next = Math.min(next, timeoutAt, leaseDeadline);
  }
  return next;
}
