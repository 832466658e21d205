import type { Engine } from "../queue/engine.ts";
import { leaseJobs } from "../queue/lease.ts";
import { PREFETCH_LEASE_MS } from "../queue/prefetch_lease.ts";
import { promoteDueJobs } from "../queue/promote.ts";
import type { TimerId } from "./clock.ts";
import type { CompletionBatch } from "./completions.ts";
import type { WorkerContext } from "./context.ts";
import type { Deliver } from "./deliver.ts";
import type { Heartbeat } from "./heartbeat.ts";
import { dueForFullLease, nextFullLeaseAt, type Prefetch } from "./prefetch.ts";
import type { ServedQueues } from "./served_queues.ts";
import type { Slots } from "./slots.ts";
import type { AttemptTracing } from "./tracing.ts";
import type { Wakeup } from "./_wakeup.ts";

export interface LoopDeps extends WorkerContext {
  engine: Engine;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  deliveries: Record<string, Deliver>;
  queues: ServedQueues;
  prefetch: Prefetch;
  completions: CompletionBatch;
  heartbeat: Heartbeat;
  slots: Slots;
  wakeup: Wakeup;
  /** Re-LISTENs when the notification connection was lost; must not block. */
  ensureListening(): void;
  /** True once the worker stops: the loop ends after its turn. */
  stopping(): boolean;
  /** Set when telemetry is on: a span per lease batch that returned jobs. */
  tracing?: AttemptTracing;
}

const NOTIFY_RECHECK_MS = 25;
const MAX_LEASE_BATCH = 1000;

/**
 * The lease loop: wait for a wake-up (a notification, a freed slot, a due deadline or the poll),
 * then in one turn write the finished batch, lease the next one into the prefetch buffer and
 * start what fits in the free slots. Stopping, draining and wiring are the Worker's.
 */
export class LeaseLoop {
  /** Queue of the most recent lease, for the worker's own metrics. */
  lastLeasedQueue: string | null = null;
  #rotation = 0;
  #dbErrors = 0;
  #recheck?: TimerId;

  constructor(private readonly d: LoopDeps) {}

  /**
   * Any notification wakes the loop, whatever queues it names: only one of several concurrent
   * enqueues notifies (migration 0006), so a payload may omit queues that also got jobs. A
   * second look ~25 ms later catches rows whose transaction skipped its notification and
   * committed just after the one that sent it.
   */
  notify(payload: string): void {
    const { queues, wakeup, clock } = this.d;
    queues.noticeNotify(payload);
    wakeup.wake();
    this.#recheck ??= clock.setTimeout(() => {
      this.#recheck = undefined;
      wakeup.wake();
    }, NOTIFY_RECHECK_MS);
  }

  /** Turns until the worker stops. */
  async run(): Promise<void> {
    const { clock, concurrency, pollMs, wakeup } = this.d;
    let lastPromote = -Infinity;
    let promote = false;
    while (!this.d.stopping()) {
      // Not awaited: a hung connection must not stall leasing; the poll covers the gap.
      this.d.ensureListening();
      try {
        await this.d.queues.refresh();
        // Perf (issue #8): write the finished batch and lease the next one at the same time,
        // on two pool connections, instead of one after the other: PostgreSQL flushes both
        // commits together, so a loop turn costs one commit wait instead of two. Slots whose
        // completion is being written count as free (their handlers are done).
        // Promotion of due jobs rides along instead of running between a wake-up and its lease:
        // once a second it delayed the lease a woken worker was about to send by a round trip
        // (the p99 of enqueue→start). What it promotes is NOTIFYed and leased next turn.
        const [, leased] = await Promise.all([
          this.d.completions.flush(),
          this.#leaseRound(),
          promote ? promoteDueJobs(this.d.sql) : null,
          this.renewStarted(),
        ]);
        promote = false;
        this.#dbErrors = 0;
        if (leased && this.d.attempts.busy < concurrency) continue;
        const waitMs = Math.min(pollMs, this.#nextDueMs());
        const woken = await wakeup.wait(waitMs);
        const now = clock.now();
        if ((!woken && waitMs === pollMs) || now - lastPromote >= pollMs) {
          lastPromote = now;
          promote = true;
        }
      } catch (e) {
        await this.#onError(e);
      }
    }
  }

  /** Clears the notification recheck timer (once the worker has drained). */
  close(): void {
    this.d.clock.clearTimeout(this.#recheck);
    this.#recheck = undefined;
  }

  /** Renews attempts started on a prefetch lease to the full lease (see dueForFullLease). */
  async renewStarted(): Promise<void> {
    const due = dueForFullLease(this.d.attempts.values(), this.d.clock.now());
    if (due.size === 0) return;
    for (const run of due.values()) run.shortLease = false;
    try {
      await this.d.heartbeat.renew([...due.keys()]);
    } catch (e) {
      for (const run of due.values()) run.shortLease = true;
      throw e;
    }
  }

  /** One pass over the served queues; true when it leased a full batch somewhere. */
  async #leaseRound(): Promise<boolean> {
    const { sql, log, clock, attempts, prefetch, slots, queues } = this.d;
    const names = queues.leasable(this.d.deliveries);
    slots.startHeld();
    await prefetch.releaseOverdue(sql, log);
    if (names.length === 0) return false;
    let full = false;
    const extra = prefetch.depth(runningSince(this.d));
    // While prefetching, the whole batch is leased short: held jobs wait unrenewed.
    const leaseMs = extra > 0 ? Math.min(this.d.leaseMs, PREFETCH_LEASE_MS) : this.d.leaseMs;
    // Rotate the starting queue so one busy queue cannot starve the others.
    const start = this.#rotation++ % names.length;
    for (let i = 0; i < names.length && !this.d.stopping(); i++) {
      const room = this.d.concurrency + extra - attempts.busy - prefetch.size;
      if (room <= 0) return true;
      const queue = queues.get(names[(start + i) % names.length]!)!;
      const max = Math.min(room, MAX_LEASE_BATCH);
      // Taken before the statement is sent: the local deadline can only be earlier than the
      // database's `lease_expires_at`, never later.
      const sentAt = clock.now();
      const wallAt = this.d.tracing ? Date.now() : 0;
      const jobs = await leaseJobs(sql, {
        queue: queue.name,
        workerId: this.d.workerId,
        max,
        leaseMs,
        concurrency: queue.effective.concurrency,
        rateLimit: queue.effective.rateLimit,
        keyConcurrency: queue.effective.keyConcurrency,
        tokens: this.d.engine.leaseTokens,
      });
      if (jobs.length > 0) {
        this.lastLeasedQueue = queue.name;
        this.d.tracing?.leased(queue.name, wallAt, jobs);
      }
      for (const job of jobs) prefetch.hold(job, queue, sentAt, leaseMs);
      slots.startHeld();
      if (jobs.length === max) full = true;
    }
    return full;
  }

  /** Ms until a held job is overdue or a started one is due for its full lease. */
  #nextDueMs(): number {
    const { prefetch, attempts, clock } = this.d;
    const due = Math.min(prefetch.nextDue(), nextFullLeaseAt(attempts.values()));
    return Math.max(0, Math.ceil(due - clock.now()));
  }

  async #onError(e: unknown): Promise<void> {
    this.#dbErrors++;
    // Capped, jittered backoff; log the first error and then every 10th, so an outage is
    // visible without flooding the log.
    // Capped at 2 s: after an outage the worker is leasing again within about a second of
    // PostgreSQL coming back, at the cost of one cheap failed query per second meanwhile.
    const ceiling = Math.min(2_000, 100 * 2 ** Math.min(this.#dbErrors, 5));
    if (this.#dbErrors === 1 || this.#dbErrors % 10 === 0) {
      this.d.log.error("worker_loop_error", { error: e, consecutive: this.#dbErrors });
    }
    await this.d.wakeup.wait(Math.floor(ceiling / 2 + Math.random() * ceiling / 2));
  }
}

function* runningSince({ attempts }: LoopDeps): Iterable<number> {
  for (const a of attempts.values()) {
    if (a.state.tag === "running") yield a.state.run.startedAt;
  }
}
