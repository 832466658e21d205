import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { silentLogger } from "../obs/log.ts";
import { Engine } from "../queue/engine.ts";
import { leaseJobs } from "../queue/lease.ts";
import { PREFETCH_LEASE_MS } from "../queue/prefetch_lease.ts";
import { promoteDueJobs } from "../queue/promote.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults } from "../queue/queues.ts";
import { registerWorker, stopWorker } from "../queue/workers.ts";
import { type Attempt, type AttemptEvent, Attempts, move, type Run } from "./attempt.ts";
import { type Clock, systemClock, type TimerId } from "./clock.ts";
import { CompletionBatch } from "./completions.ts";
import type { WorkerContext } from "./context.ts";
import { checkDeadlines, Deadlines } from "./deadlines.ts";
import { type Deliver, execDelivery, inlineDelivery } from "./deliver.ts";
import { type HandlerMap, handlerMap } from "./handlers.ts";
import { Heartbeat } from "./heartbeat.ts";
import { Outcomes } from "./outcomes.ts";
import { dueForFullLease, nextFullLeaseAt, Prefetch } from "./prefetch.ts";
import { runAttempt, type RunDeps } from "./run.ts";
import { drain } from "./shutdown.ts";
import { ServedQueues } from "./served_queues.ts";
import { Wakeup } from "./_wakeup.ts";
import { Listener } from "./_listener.ts";

export type { AttemptEvent } from "./attempt.ts";

export interface WorkerOptions {
  sql: Sql;
  workerId: string;
  /** Queue names to serve; null serves every queue (refreshed as queues are created). */
  queues: string[] | null;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  shutdownGraceMs: number;
  defaults?: EngineDefaults;
  /** The role's engine state (src/queue/engine.ts); default: one made for `sql`. */
  engine?: Engine;
  handlers?: HandlerMap;
  /** Extra delivery modes by name (`http` comes from the delivery module). */
  deliveries?: Partial<Record<string, Deliver>>;
  log?: Logger;
  version?: string;
  host?: string;
  metricsAddr?: string | null;
  /** Called once per finished attempt: for metrics. */
  onAttempt?: (e: AttemptEvent) => void;
  /** Time for leases, timeouts, heartbeats and waits; tests pass one they move themselves. */
  clock?: Clock;
}

const NOTIFY_RECHECK_MS = 25;
const MAX_LEASE_BATCH = 1000;

/**
 * The lease loop: leases in batches up to the free concurrency (and beyond it while attempts
 * are fast, see prefetch.ts), runs attempts concurrently, and on stop releases what it could
 * not finish within the grace period. An attempt's life is the state machine in attempt.ts;
 * heartbeats, deadlines, batched completions and the other outcomes are one module each.
 */
export class Worker {
  readonly id: string;
  readonly #o: WorkerOptions & { handlers: HandlerMap; log: Logger; engine: Engine };
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #attempts = new Attempts();
  readonly #prefetch: Prefetch;
  readonly #completions: CompletionBatch;
  readonly #outcomes: Outcomes;
  readonly #heartbeat: Heartbeat;
  readonly #deadlines: Deadlines;
  readonly #queues: ServedQueues;
  readonly #wakeup: Wakeup;
  readonly #deliveries: Record<string, Deliver>;
  readonly #runDeps: RunDeps;
  #rotation = 0;
  #stopping = false;
  #running: Promise<void> | null = null;
  #listener?: Listener;
  #dbErrors = 0;
  #recheck?: TimerId;
  /** Queue of the most recent lease, for the worker's own metrics. */
  lastLeasedQueue: string | null = null;

  constructor(opts: WorkerOptions) {
    this.id = opts.workerId;
    const o = this.#o = {
      handlers: handlerMap(),
      log: silentLogger,
      ...opts,
      engine: opts.engine ?? new Engine(opts.sql, { defaults: opts.defaults }),
    };
    const clock = this.#clock = opts.clock ?? systemClock;
    const log = this.#log = o.log.child({ worker_id: this.id });
    const { sql, onAttempt } = o;
    const attempts = this.#attempts;
    this.#wakeup = new Wakeup(clock);
    this.#deliveries = {
      inline: inlineDelivery(o.handlers),
      exec: execDelivery,
      ...(opts.deliveries as Record<string, Deliver>),
    };
    this.#prefetch = new Prefetch(o.concurrency, clock);
    this.#queues = new ServedQueues({
      sql,
      names: o.queues,
      defaults: o.defaults ?? BUILTIN_DEFAULTS,
      clock,
      log,
    });
    const ctx: WorkerContext = { sql, workerId: this.id, clock, log, attempts, onAttempt };
    this.#completions = new CompletionBatch(ctx);
    this.#outcomes = new Outcomes({
      ...ctx,
      observe: (ms) => this.#prefetch.observe(ms),
      settle: (a, run, status) => this.#settle(a, run, status),
    });
    const outcomes = this.#outcomes;
    this.#runDeps = {
      deliveries: this.#deliveries,
      log,
      attempts,
      outcomes,
      succeed: (a, run, result) => this.#succeed(a, run, result),
      wake: () => this.#wakeup.wake(),
    };
    this.#deadlines = new Deadlines(clock, (now) =>
      checkDeadlines(attempts.values(), now, {
        leaseExpired: (a) =>
          outcomes.lose(a, "the lease expired before a heartbeat could renew it", {
            reason: "expired_without_heartbeat",
          }),
        timedOut: (a) => outcomes.timeOut(a),
      }));
    this.#heartbeat = new Heartbeat({
      ...ctx,
      leaseMs: o.leaseMs,
      onLost: (a) => outcomes.lose(a, "the lease was lost; another attempt may run"),
      armDeadline: (at) => this.#deadlines.arm(at),
      onCancel: (a) => outcomes.cancel(a),
      // Not awaited: stop() waits for the loop, whose drain stops this heartbeat.
      onQuiet: () => {
        if (this.#stopping) return;
        this.#log.info("worker_quiet_requested", { running: this.#attempts.size });
        void this.stop();
      },
    });
  }

  get inFlight(): number {
    return this.#attempts.size;
  }

  inFlightIds(): string[] {
    return this.#attempts.ids();
  }

  /** Starts the loop; resolves once it is leasing. `stop()` ends it. */
  async start(): Promise<void> {
    const o = this.#o;
    await registerWorker(o.sql, {
      id: this.id,
      host: o.host ?? Deno.hostname(),
      pid: Deno.pid,
      queues: o.queues ?? ["*"],
      concurrency: o.concurrency,
      version: o.version ?? "dev",
      metricsAddr: o.metricsAddr ?? null,
    });
    // On (re)connect jobs may have arrived while we were not listening: wake up and look.
    this.#listener = new Listener(o.sql, "sluice_jobs", (p) => this.#onNotify(p), () => {
      this.#wakeup.wake();
    });
    try {
      await this.#listener.listen();
    } catch (e) {
      await this.#listener.close();
      throw e;
    }
    this.#heartbeat.start();
    this.#running = this.#loop();
    this.#log.info("worker_started", {
      queues: o.queues ?? ["*"],
      concurrency: o.concurrency,
      lease_ms: o.leaseMs,
    });
  }

  /** Stops leasing, lets running attempts finish within the grace, releases the rest. */
  async stop(): Promise<void> {
    if (this.#stopping) return await this.#running?.then(() => {});
    this.#stopping = true;
    this.#wakeup.wake();
    await this.#running;
  }

  /** Resolves when the loop has ended (after `stop()`). */
  done(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Per served queue: attempts in flight and jobs held, for the worker's /healthz. */
  queueStats(): Map<string, { inFlight: number; held: number }> {
    const stats = new Map(this.#queues.names().map((q) => [q, { inFlight: 0, held: 0 }]));
    const of = (q: string) => stats.get(q) ?? stats.set(q, { inFlight: 0, held: 0 }).get(q)!;
    for (const a of this.#attempts.values()) of(a.job.queue).inFlight++;
    for (const a of this.#prefetch.values()) of(a.job.queue).held++;
    return stats;
  }

  /**
   * Any notification wakes the loop, whatever queues it names: only one of several concurrent
   * enqueues notifies (migration 0006), so a payload may omit queues that also got jobs. A
   * second look ~25 ms later catches rows whose transaction skipped its notification and
   * committed just after the one that sent it.
   */
  #onNotify(payload: string): void {
    this.#queues.noticeNotify(payload);
    this.#wakeup.wake();
    this.#recheck ??= this.#clock.setTimeout(() => {
      this.#recheck = undefined;
      this.#wakeup.wake();
    }, NOTIFY_RECHECK_MS);
  }

  async #loop(): Promise<void> {
    const { sql, concurrency, pollMs } = this.#o;
    let lastPromote = -Infinity;
    let promote = false;
    while (!this.#stopping) {
      // Not awaited: a hung connection must not stall leasing; the poll covers the gap.
      void this.#listener?.ensure();
      try {
        await this.#queues.refresh();
        // Perf (issue #8): write the finished batch and lease the next one at the same time,
        // on two pool connections, instead of one after the other: PostgreSQL flushes both
        // commits together, so a loop turn costs one commit wait instead of two. Slots whose
        // completion is being written count as free (their handlers are done).
        // Promotion of due jobs rides along instead of running between a wake-up and its lease:
        // once a second it delayed the lease a woken worker was about to send by a round trip
        // (the p99 of enqueue→start). What it promotes is NOTIFYed and leased next turn.
        const [, leased] = await Promise.all([
          this.#completions.flush(),
          this.#leaseRound(),
          promote ? promoteDueJobs(sql) : null,
          this.#renewStarted(),
        ]);
        promote = false;
        this.#dbErrors = 0;
        if (leased && this.#attempts.busy < concurrency) continue;
        const waitMs = Math.min(pollMs, this.#nextDueMs());
        const woken = await this.#wakeup.wait(waitMs);
        const now = this.#clock.now();
        if ((!woken && waitMs === pollMs) || now - lastPromote >= pollMs) {
          lastPromote = now;
          promote = true;
        }
      } catch (e) {
        await this.#onLoopError(e);
      }
    }
    await this.#drain();
  }

  /** One pass over the served queues; true when it leased a full batch somewhere. */
  async #leaseRound(): Promise<boolean> {
    const o = this.#o;
    const names = this.#queues.leasable(this.#deliveries);
    this.#startHeld();
    await this.#prefetch.releaseOverdue(o.sql, this.#log);
    if (names.length === 0) return false;
    let full = false;
    const extra = this.#prefetch.depth(this.#runningSince());
    // While prefetching, the whole batch is leased short: held jobs wait unrenewed.
    const leaseMs = extra > 0 ? Math.min(o.leaseMs, PREFETCH_LEASE_MS) : o.leaseMs;
    // Rotate the starting queue so one busy queue cannot starve the others.
    const start = this.#rotation++ % names.length;
    for (let i = 0; i < names.length && !this.#stopping; i++) {
      const room = o.concurrency + extra - this.#attempts.busy - this.#prefetch.size;
      if (room <= 0) return true;
      const queue = this.#queues.get(names[(start + i) % names.length]!)!;
      const max = Math.min(room, MAX_LEASE_BATCH);
      // Taken before the statement is sent: the local deadline can only be earlier than the
      // database's `lease_expires_at`, never later.
      const sentAt = this.#clock.now();
      const jobs = await leaseJobs(o.sql, {
        queue: queue.name,
        workerId: this.id,
        max,
        leaseMs,
        concurrency: queue.effective.concurrency,
        rateLimit: queue.effective.rateLimit,
        tokens: o.engine.leaseTokens,
      });
      if (jobs.length > 0) this.lastLeasedQueue = queue.name;
      for (const job of jobs) this.#prefetch.hold(job, queue, sentAt, leaseMs);
      this.#startHeld();
      if (jobs.length === max) full = true;
    }
    return full;
  }

  *#runningSince(): Iterable<number> {
    for (const a of this.#attempts.values()) {
      if (a.state.tag === "running") yield a.state.run.startedAt;
    }
  }

  /** Starts held (prefetched) attempts in the free slots, oldest first. */
  #startHeld(): void {
    while (this.#attempts.busy < this.#o.concurrency && !this.#stopping) {
      const a = this.#prefetch.next();
      if (!a) return;
      this.#begin(a);
    }
  }

  /** Renews attempts started on a prefetch lease to the full lease (see dueForFullLease). */
  async #renewStarted(): Promise<void> {
    const due = dueForFullLease(this.#attempts.values(), this.#clock.now());
    if (due.size === 0) return;
    for (const run of due.values()) run.shortLease = false;
    try {
      await this.#heartbeat.renew([...due.keys()]);
    } catch (e) {
      for (const run of due.values()) run.shortLease = true;
      throw e;
    }
  }

  /** Ms until a held job is overdue or a started one is due for its full lease. */
  #nextDueMs(): number {
    const due = Math.min(this.#prefetch.nextDue(), nextFullLeaseAt(this.#attempts.values()));
    return Math.max(0, Math.ceil(due - this.#clock.now()));
  }

  #begin(a: Attempt): void {
    if (a.state.tag !== "held") return;
    const { job, queue } = a;
    const { leasedAt, leaseMs } = a.state;
    const startedAt = this.#clock.now();
    // A timer fires at once for delays past 2^31-1 ms; no attempt runs 24 days anyway.
    const timeoutMs = Math.min(job.timeoutMs ?? queue.effective.timeoutMs, 2 ** 31 - 1);
    const run: Run = {
      controller: new AbortController(),
      startedAt,
      timeoutAt: startedAt + timeoutMs,
      timeoutMs,
      leaseDeadline: leasedAt + leaseMs,
      shortLease: leaseMs < this.#o.leaseMs,
    };
    move(a, { tag: "running", run });
    this.#attempts.add(a);
    this.#deadlines.arm(Math.min(run.timeoutAt, run.leaseDeadline));
    runAttempt(a, run, this.#runDeps);
  }

  #succeed(a: Attempt, run: Run, result: unknown): void {
    if (a.state.tag !== "running") return;
    this.#prefetch.observe(this.#clock.now() - run.startedAt);
    this.#completions.add(a, run, result);
    // Its slot is free now (the completion is only waiting to be written): start the next held
    // job at once rather than at the next loop turn, so prefetched jobs run back to back.
    this.#startHeld();
    this.#wakeup.wake();
  }

  #settle(a: Attempt, run: Run, status?: AttemptEvent["status"]): void {
    if (status) {
      this.#o.onAttempt?.({ job: a.job, status, durationMs: this.#clock.now() - run.startedAt });
    }
    this.#attempts.delete(a);
    this.#startHeld();
    this.#wakeup.wake();
  }

  async #onLoopError(e: unknown): Promise<void> {
    this.#dbErrors++;
    // Capped, jittered backoff; log the first error and then every 10th, so an outage is
    // visible without flooding the log.
    // Capped at 2 s: after an outage the worker is leasing again within about a second of
    // PostgreSQL coming back, at the cost of one cheap failed query per second meanwhile.
    const ceiling = Math.min(2_000, 100 * 2 ** Math.min(this.#dbErrors, 5));
    if (this.#dbErrors === 1 || this.#dbErrors % 10 === 0) {
      this.#log.error("worker_loop_error", { error: e, consecutive: this.#dbErrors });
    }
    await this.#wakeup.wait(Math.floor(ceiling / 2 + Math.random() * ceiling / 2));
  }

  async #drain(): Promise<void> {
    const o = this.#o;
    await drain({
      sql: o.sql,
      clock: this.#clock,
      log: this.#log,
      graceMs: o.shutdownGraceMs,
      attempts: this.#attempts,
      prefetch: this.#prefetch,
      completions: this.#completions,
      renewStarted: () => this.#renewStarted(),
      wait: (ms) => this.#wakeup.wait(ms),
      onAttempt: o.onAttempt,
    });
    this.#heartbeat.stop();
    this.#deadlines.stop();
    this.#clock.clearTimeout(this.#recheck);
    await this.#listener?.close();
    await stopWorker(o.sql, this.id).catch(() => {});
    this.#log.info("worker_stopped", {});
  }
}
