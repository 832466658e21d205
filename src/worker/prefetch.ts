import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import type { LeasedJob } from "../queue/job.ts";
import { releaseJobs } from "../queue/outcome.ts";
import type { Queue } from "../queue/queues.ts";
import { type Attempt, move, type Run } from "./attempt.ts";
import type { Clock } from "./clock.ts";

/**
 * Prefetch (issue #8): while attempts finish quickly, lease beyond the free slots and start the
 * held jobs as slots free up, so each lease and completion round trip carries many jobs. How
 * many: as many as the slots get through in PREFETCH_HOLD_MS at the average attempt time
 * (at least `concurrency`, at most MAX_PREFETCH), and none once attempts average
 * PREFETCH_FAST_MS or more, so a job rarely waits locally longer than about PREFETCH_HOLD_MS
 * behind others that another worker could have started. The average counts attempts still
 * running (`attemptMs`): it once learnt only from finished ones, so a worker whose three slots
 * held 25-minute jobs kept leasing fast jobs into its buffer (577 of them, issue #14.6) while
 * another worker idled. A held job that has not started within PREFETCH_START_WITHIN_MS goes
 * back to the queue in the next loop turn, released in one statement. Held jobs are fenced and
 * released on shutdown, but leased short (PREFETCH_LEASE_MS) and not heartbeated; their
 * timeout starts when they start.
 * Measured (20,000 no-op jobs, 2 cores, fsync on; scratch runs of bench/_sluice.ts processRate,
 * two runs each): starting held jobs only at the next loop turn capped a turn at about twice
 * the concurrency (c=10 7,700 jobs/s, c=50 16,000); starting them as slots free, with at most
 * 500 held and leases of 500: 19,000–25,000 and 27,000–32,000; at most 1,000 held and leases of
 * 1,000 (the next lease overlaps the processing of the last): 24,000–27,000 and 31,000–37,000;
 * 2,000 held: no better; leases of 250: worse (more statements per job).
 */
export const PREFETCH_FAST_MS = 50;
const PREFETCH_HOLD_MS = 50;
const MAX_PREFETCH = 1000;
/**
 * 20 times the intended hold: only a stall (slots stuck on long attempts) reaches it. At most a
 * third of the lease, so a held job starts with time for its first renewal (short leases of 1 s).
 */
export const PREFETCH_START_WITHIN_MS = 1_000;

/** The held (leased, not started) attempts, oldest first, and the attempt-time average. */
export class Prefetch {
  #held: Attempt[] = [];
  /** Moving average of finished attempts' run times, ms. */
  #avgMs = Infinity;

  constructor(private readonly concurrency: number, private readonly clock: Clock) {}

  get size(): number {
    return this.#held.length;
  }

  values(): readonly Attempt[] {
    return this.#held;
  }

  /** Holds a job leased by a statement sent at `sentAt` for `leaseMs`. */
  hold(job: LeasedJob, queue: Queue, sentAt: number, leaseMs: number): void {
    const startBy = sentAt + Math.min(PREFETCH_START_WITHIN_MS, leaseMs / 3);
    this.#held.push({ job, queue, state: { tag: "held", leasedAt: sentAt, leaseMs, startBy } });
  }

  /** The oldest held attempt, taken out to start. */
  next(): Attempt | undefined {
    return this.#held.shift();
  }

  /** Every held attempt, taken out (to release at shutdown). */
  takeAll(): Attempt[] {
    return this.#held.splice(0);
  }

  /** When the oldest held job is due to be released, or Infinity. */
  nextDue(): number {
    const s = this.#held[0]?.state;
    return s?.tag === "held" ? s.startBy : Infinity;
  }

  /** Feeds an attempt's run time (start to outcome) into the average that gates prefetch. */
  observe(ms: number): void {
    this.#avgMs = this.#avgMs === Infinity ? ms : this.#avgMs * 0.9 + ms * 0.1;
  }

  /** How many jobs to hold beyond the free slots, given when the running attempts started. */
  depth(runningSince: Iterable<number>): number {
    const avg = this.attemptMs(runningSince);
    if (!(avg < PREFETCH_FAST_MS)) return 0;
    const fits = Math.floor(this.concurrency * PREFETCH_HOLD_MS / avg);
    return Math.max(this.concurrency, Math.min(MAX_PREFETCH, fits));
  }

  /**
   * The attempt time the slots see now, ms. Each slot runs at 1 / its expected attempt time:
   * the finished attempts' average, or its current attempt's elapsed time once that is longer.
   * Three slots stuck on long attempts turn prefetch off once they have run PREFETCH_FAST_MS;
   * one stuck slot of three leaves prefetch sized to what the other two get through.
   */
  attemptMs(runningSince: Iterable<number>): number {
    const avg = Math.max(this.#avgMs, 0.001);
    if (avg === Infinity) return Infinity;
    const now = this.clock.now();
    let running = 0, rate = 0;
    for (const startedAt of runningSince) {
      running++;
      rate += 1 / Math.max(avg, now - startedAt);
    }
    rate += Math.max(0, this.concurrency - running) / avg;
    return this.concurrency / rate;
  }

  /** Gives back in one statement the held jobs not started within PREFETCH_START_WITHIN_MS. */
  async releaseOverdue(sql: Sql, log: Logger): Promise<void> {
    const now = this.clock.now();
    let n = 0;
    while (n < this.#held.length && dueBy(this.#held[n]!) <= now) n++;
    if (n === 0) return;
    const overdue = this.#held.splice(0, n);
    let released: Set<string>;
    try {
      released = await releaseJobs(sql, overdue.map((a) => a.job), "not_started");
    } catch (e) {
      // Still leased: a later turn starts or releases them (or their short lease runs out).
      this.#held = overdue.concat(this.#held);
      throw e;
    }
    for (const a of overdue) move(a, { tag: "released", reason: "not_started" });
    log.info("held_jobs_released", {
      count: released.size,
      held_ms: Math.round(now - leasedAt(overdue[0]!)),
    });
  }
}

const dueBy = (a: Attempt) => a.state.tag === "held" ? a.state.startBy : -Infinity;
const leasedAt = (a: Attempt) => a.state.tag === "held" ? a.state.leasedAt : 0;

/**
 * The attempts started on a prefetch lease that still run PREFETCH_FAST_MS after starting: the
 * loop renews them to the full lease in one heartbeat, so the usual fast attempt costs no write
 * of its own; the renewal is also what marks the job started (src/queue/prefetch_lease.ts).
 */
export function dueForFullLease(attempts: Iterable<Attempt>, now: number): Map<Attempt, Run> {
  const due = new Map<Attempt, Run>();
  for (const a of attempts) {
    const s = a.state;
    if (s.tag === "running" && s.run.shortLease && s.run.startedAt <= now - PREFETCH_FAST_MS) {
      due.set(a, s.run);
    }
  }
  return due;
}

/** When the next attempt on a prefetch lease is due for its full lease, or Infinity. */
export function nextFullLeaseAt(attempts: Iterable<Attempt>): number {
  let at = Infinity;
  for (const a of attempts) {
    const s = a.state;
    if (s.tag === "running" && s.run.shortLease) {
      at = Math.min(at, s.run.startedAt + PREFETCH_FAST_MS);
    }
  }
  return at;
}
