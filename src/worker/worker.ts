import type { Sql } from "../db/connect.ts";
import { isSluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import { silentLogger } from "../obs/log.ts";
import { backoffDelayMs } from "../queue/backoff.ts";
import type { Fence, LeasedJob } from "../queue/job.ts";
import { Engine } from "../queue/engine.ts";
import { leaseJobs } from "../queue/lease.ts";
import {
  completeJobs,
  type Completion,
  failJob,
  finishCancelled,
  heartbeatJobs,
  releaseJobs,
} from "../queue/outcome.ts";
import { PREFETCH_LEASE_MS } from "../queue/prefetch_lease.ts";
import { promoteDueJobs } from "../queue/promote.ts";
import { awaitCallback } from "../queue/callbacks.ts";
import { deferJob } from "../queue/defer.ts";
import {
  BUILTIN_DEFAULTS,
  type EngineDefaults,
  getQueues,
  listQueues,
  type Queue,
} from "../queue/queues.ts";
import { registerWorker, stopWorker, touchWorker } from "../queue/workers.ts";
import { type Deliver, execDelivery, inlineDelivery } from "./deliver.ts";
import { JobFailure } from "./failure.ts";
import { type HandlerMap, handlerMap } from "./handlers.ts";
import { Wakeup } from "./_wakeup.ts";
import { Listener } from "./_listener.ts";

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
}

export interface AttemptEvent {
  job: LeasedJob;
  status:
    | "succeeded"
    | "failed"
    | "dead"
    | "timeout"
    | "cancelled"
    | "lost"
    | "released"
    | "deferred"
    | "awaiting_callback";
  durationMs: number;
  code?: string;
}

interface InFlight {
  job: LeasedJob;
  controller: AbortController;
  startedAt: number;
  /** Set once the attempt's outcome is decided; later events for it are ignored. */
  decided: boolean;
  /** Succeeded, its completion not yet written (in #pending or being flushed): still leased. */
  awaitingWrite?: boolean;
  queue: Queue;
  /** performance.now() past which the attempt has run longer than its timeout. */
  timeoutAt: number;
  timeoutMs: number;
  /** performance.now() past which the lease has run out by this process's clock. */
  leaseDeadline: number;
  /** Started on a prefetch lease (PREFETCH_LEASE_MS), not renewed to the full lease yet. */
  shortLease: boolean;
}

/** A prefetched job: leased, not started (see PREFETCH_FAST_MS). */
interface Held {
  job: LeasedJob;
  queue: Queue;
  /** performance.now() when its lease statement was sent. */
  leasedAt: number;
  leaseMs: number;
  /** performance.now() by which it starts or is released (see PREFETCH_START_WITHIN_MS). */
  startBy: number;
}

/** A completion waits here until the loop writes a batch of them in one statement. */
interface PendingCompletion extends Completion {
  flight: InFlight;
}

type ResolvedOptions =
  & Required<Omit<WorkerOptions, "onAttempt" | "deliveries" | "metricsAddr">>
  & WorkerOptions;

const NOTIFY_RECHECK_MS = 25;
const QUEUE_REFRESH_MS = 5_000;
const MAX_LEASE_BATCH = 1000;
/**
 * Prefetch (issue #8): while attempts finish quickly, lease beyond the free slots and start the
 * held jobs as slots free up, so each lease and completion round trip carries many jobs. How
 * many: as many as the slots get through in PREFETCH_HOLD_MS at the average attempt time
 * (at least `concurrency`, at most MAX_PREFETCH), and none once attempts average
 * PREFETCH_FAST_MS or more, so a job rarely waits locally longer than about PREFETCH_HOLD_MS
 * behind others that another worker could have started. The average counts attempts still
 * running (#attemptMs): it once learnt only from finished ones, so a worker whose three slots
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
const PREFETCH_FAST_MS = 50;
const PREFETCH_HOLD_MS = 50;
const MAX_PREFETCH = 1000;
/**
 * 20 times the intended hold: only a stall (slots stuck on long attempts) reaches it. At most a
 * third of the lease, so a held job starts with time for its first renewal (short leases of 1 s).
 */
const PREFETCH_START_WITHIN_MS = 1_000;

/**
 * The lease loop: leases in batches up to the free concurrency, runs attempts concurrently,
 * heartbeats at a third of the lease, enforces timeouts with an AbortSignal, completes
 * successes in batches, and on stop releases what it could not finish within the grace period.
 */
export class Worker {
  readonly id: string;
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  readonly #inflight = new Map<string, InFlight>();
  /** Prefetched attempts, leased but not started (see PREFETCH_FAST_MS). */
  #held: Held[] = [];
  /** Moving average of finished attempts' durations, ms (see #attemptMs). */
  #avgMs = Infinity;
  #pending: PendingCompletion[] = [];
  /** Completions being written right now (taken out of #pending, still in #inflight). */
  #flushing = 0;
  readonly #wakeup = new Wakeup();
  readonly #deliveries: Record<string, Deliver>;
  #queues = new Map<string, Queue>();
  #queuesLoadedAt = 0;
  #rotation = 0;
  #stopping = false;
  #running: Promise<void> | null = null;
  #heartbeat?: ReturnType<typeof setInterval>;
  #listener?: Listener;
  #dbErrors = 0;
  /** Heartbeats in flight, and when the latest began (see #beat). */
  #beats = 0;
  #lastBeatAt = 0;
  #recheck?: ReturnType<typeof setTimeout>;
  #deadlineTimer?: ReturnType<typeof setTimeout>;
  #deadlineAt?: number;
  /** Queue of the most recent lease, for the worker's own metrics. */
  lastLeasedQueue: string | null = null;

  constructor(opts: WorkerOptions) {
    this.id = opts.workerId;
    this.#o = {
      defaults: BUILTIN_DEFAULTS,
      handlers: handlerMap(),
      log: silentLogger,
      version: "dev",
      host: Deno.hostname(),
      ...opts,
      engine: opts.engine ?? new Engine(opts.sql, { defaults: opts.defaults }),
    } as ResolvedOptions;
    this.#log = this.#o.log.child({ worker_id: this.id });
    this.#deliveries = {
      inline: inlineDelivery(this.#o.handlers),
      exec: execDelivery,
      ...(opts.deliveries as Record<string, Deliver>),
    };
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  inFlightIds(): string[] {
    return [...this.#inflight.keys()];
  }

  /** Starts the loop; resolves once it is leasing. `stop()` ends it. */
  async start(): Promise<void> {
    const o = this.#o;
    await registerWorker(o.sql, {
      id: this.id,
      host: o.host,
      pid: Deno.pid,
      queues: o.queues ?? ["*"],
      concurrency: o.concurrency,
      version: o.version,
      metricsAddr: o.metricsAddr ?? null,
    });
    this.#listener = new Listener(
      o.sql,
      "sluice_jobs",
      (payload) => this.#onNotify(payload),
      () => {
        // (Re)connected: jobs may have arrived while we were not listening.
        this.#wakeup.wake();
      },
    );
    try {
      await this.#listener.listen();
    } catch (e) {
      await this.#listener.close();
      throw e;
    }
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(50, Math.floor(o.leaseMs / 3)));
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

  /**
   * Any notification wakes the loop, whatever queues it names: only one of several concurrent
   * enqueues notifies (migration 0006), so a payload may omit queues that also got jobs. A
   * second look ~25 ms later catches rows whose transaction skipped its notification and
   * committed just after the one that sent it.
   * A notification naming a queue this worker would serve but does not know yet (created since
   * the last queue list, whose refresh runs every QUEUE_REFRESH_MS) reloads the list before the
   * next lease: the first job of a new queue waited up to 5 s for that refresh (issue #21.10).
   */
  #onNotify(payload: string): void {
    if (this.#queuesLoadedAt > 0 && this.#namesUnknownQueue(payload)) this.#queuesLoadedAt = 0;
    this.#wakeup.wake();
    if (this.#recheck === undefined) {
      this.#recheck = setTimeout(() => {
        this.#recheck = undefined;
        this.#wakeup.wake();
      }, NOTIFY_RECHECK_MS);
    }
  }

  async #loop(): Promise<void> {
    const o = this.#o;
    let lastPromote = 0;
    let promote = false;
    while (!this.#stopping) {
      // Not awaited: a hung connection must not stall leasing; the poll covers the gap.
      void this.#listener?.ensure();
      try {
        await this.#refreshQueues();
        // Perf (issue #8): write the finished batch and lease the next one at the same time,
        // on two pool connections, instead of one after the other: PostgreSQL flushes both
        // commits together, so a loop turn costs one commit wait instead of two. Slots whose
        // completion is being written count as free (their handlers are done).
        // Promotion of due jobs rides along instead of running between a wake-up and its lease:
        // once a second it delayed the lease a woken worker was about to send by a round trip
        // (the p99 of enqueue→start). What it promotes is NOTIFYed and leased next turn.
        const [, leased] = await Promise.all([
          this.#flush(),
          this.#leaseRound(),
          promote ? promoteDueJobs(o.sql) : null,
          this.#renewStarted(),
        ]);
        promote = false;
        this.#dbErrors = 0;
        if (leased && this.#busy() < o.concurrency) continue;
        const waitMs = Math.min(o.pollMs, this.#nextDueMs());
        const woken = await this.#wakeup.wait(waitMs);
        if ((!woken && waitMs === o.pollMs) || Date.now() - lastPromote >= o.pollMs) {
          lastPromote = Date.now();
          promote = true;
        }
      } catch (e) {
        await this.#onLoopError(e);
      }
    }
    await this.#drain();
  }

  /** Attempts holding a slot: in flight, less those whose handler finished and only wait to be written. */
  #busy(): number {
    return this.#inflight.size - this.#pending.length - this.#flushing;
  }

  /** One pass over the served queues; true when it leased a full batch somewhere. */
  async #leaseRound(): Promise<boolean> {
    const o = this.#o;
    const names = [...this.#queues.values()]
      .filter((q) =>
        !q.paused && q.effective.delivery.mode !== "pull" &&
        q.effective.delivery.mode in this.#deliveries
      )
      .map((q) => q.name);
    this.#startHeld();
    await this.#releaseOverdue();
    if (names.length === 0) return false;
    let full = false;
    const prefetch = this.#prefetch();
    // While prefetching, the whole batch is leased short: held jobs wait unrenewed.
    const leaseMs = prefetch > 0 ? Math.min(o.leaseMs, PREFETCH_LEASE_MS) : o.leaseMs;
    // Rotate the starting queue so one busy queue cannot starve the others.
    const start = this.#rotation++ % names.length;
    for (let i = 0; i < names.length && !this.#stopping; i++) {
      const room = o.concurrency + prefetch - this.#busy() - this.#held.length;
      if (room <= 0) return true;
      const queue = this.#queues.get(names[(start + i) % names.length]!)!;
      const max = Math.min(room, MAX_LEASE_BATCH);
      // Taken before the statement is sent: the local deadline can only be earlier than the
      // database's `lease_expires_at`, never later.
      const sentAt = performance.now();
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
      const startBy = sentAt + Math.min(PREFETCH_START_WITHIN_MS, leaseMs / 3);
      for (const job of jobs) this.#held.push({ job, queue, leasedAt: sentAt, leaseMs, startBy });
      this.#startHeld();
      if (jobs.length === max) full = true;
    }
    return full;
  }

  /** How many jobs to hold beyond the free slots (see PREFETCH_HOLD_MS). */
  #prefetch(): number {
    const c = this.#o.concurrency;
    const avg = this.#attemptMs();
    if (!(avg < PREFETCH_FAST_MS)) return 0;
    const fits = Math.floor(c * PREFETCH_HOLD_MS / avg);
    return Math.max(c, Math.min(MAX_PREFETCH, fits));
  }

  /**
   * The attempt time the slots see now, ms. Each slot runs at 1 / its expected attempt time:
   * the finished attempts' average, or its current attempt's elapsed time once that is longer.
   * Three slots stuck on long attempts turn prefetch off once they have run PREFETCH_FAST_MS;
   * one stuck slot of three leaves prefetch sized to what the other two get through.
   */
  #attemptMs(): number {
    const avg = Math.max(this.#avgMs, 0.001);
    if (avg === Infinity) return Infinity;
    const now = performance.now();
    const c = this.#o.concurrency;
    let running = 0, rate = 0;
    for (const f of this.#inflight.values()) {
      if (f.decided) continue;
      running++;
      rate += 1 / Math.max(avg, now - f.startedAt);
    }
    rate += Math.max(0, c - running) / avg;
    return c / rate;
  }

  /** Starts held (prefetched) attempts in the free slots, oldest first. */
  #startHeld(): void {
    while (this.#held.length > 0 && this.#busy() < this.#o.concurrency && !this.#stopping) {
      this.#begin(this.#held.shift()!);
    }
  }

  /** Gives back in one statement the held jobs not started within PREFETCH_START_WITHIN_MS. */
  async #releaseOverdue(): Promise<void> {
    const now = performance.now();
    let n = 0;
    while (n < this.#held.length && this.#held[n]!.startBy <= now) n++;
    if (n === 0) return;
    const overdue = this.#held.splice(0, n);
    let released: Set<string>;
    try {
      released = await releaseJobs(this.#o.sql, overdue.map((h) => h.job), "not_started");
    } catch (e) {
      // Still leased: a later turn starts or releases them (or their short lease runs out).
      this.#held = overdue.concat(this.#held);
      throw e;
    }
    this.#log.info("held_jobs_released", {
      count: released.size,
      held_ms: Math.round(now - overdue[0]!.leasedAt),
    });
  }

  /**
   * Renews to the full lease, in one heartbeat, the attempts started on a prefetch lease that
   * still run after PREFETCH_FAST_MS, so the usual fast attempt costs no write of its own; the
   * renewal is also what marks the job started (src/queue/prefetch_lease.ts).
   */
  async #renewStarted(): Promise<void> {
    const due = performance.now() - PREFETCH_FAST_MS;
    const flights: InFlight[] = [];
    for (const f of this.#inflight.values()) {
      if (f.shortLease && !f.decided && f.startedAt <= due) flights.push(f);
    }
    if (flights.length === 0) return;
    for (const f of flights) f.shortLease = false;
    try {
      await this.#renew(flights.map((f) => f.job));
    } catch (e) {
      for (const f of flights) f.shortLease = true;
      throw e;
    }
  }

  /** Ms until a held job is overdue or a started one is due for #renewStarted. */
  #nextDueMs(): number {
    let due = Infinity;
    if (this.#held.length > 0) due = this.#held[0]!.startBy;
    for (const f of this.#inflight.values()) {
      if (f.shortLease && !f.decided) due = Math.min(due, f.startedAt + PREFETCH_FAST_MS);
    }
    return Math.max(0, Math.ceil(due - performance.now()));
  }

  /** Per served queue: attempts in flight and jobs held, for the worker's /healthz. */
  queueStats(): Map<string, { inFlight: number; held: number }> {
    const stats = new Map([...this.#queues.keys()].map((q) => [q, { inFlight: 0, held: 0 }]));
    const of = (q: string) => stats.get(q) ?? stats.set(q, { inFlight: 0, held: 0 }).get(q)!;
    for (const f of this.#inflight.values()) of(f.job.queue).inFlight++;
    for (const h of this.#held) of(h.job.queue).held++;
    return stats;
  }

  /** True when `payload` (queue names, comma-separated) names a queue to serve not loaded yet. */
  #namesUnknownQueue(payload: string): boolean {
    const wanted = this.#o.queues;
    return payload.split(",").some((name) =>
      name !== "" && !this.#queues.has(name) && (wanted === null || wanted.includes(name))
    );
  }

  async #refreshQueues(): Promise<void> {
    if (Date.now() - this.#queuesLoadedAt < QUEUE_REFRESH_MS) return;
    // Perf (issue #8): once loaded, reload in the background, so a wake-up's lease never
    // waits behind the queue list (policy changes are picked up a turn later).
    if (this.#queuesLoadedAt > 0) {
      this.#queuesLoadedAt = Date.now();
      void this.#loadQueues().catch((e) => {
        this.#queuesLoadedAt = 0;
        this.#log.warn("queues_refresh_failed", { error: e });
      });
      return;
    }
    await this.#loadQueues();
  }

  async #loadQueues(): Promise<void> {
    const o = this.#o;
    this.#queues = o.queues === null
      ? new Map((await listQueues(o.sql, o.defaults)).map((q) => [q.name, q]))
      : await getQueues(o.sql, o.queues, o.defaults);
    this.#queuesLoadedAt = Date.now();
    if (o.queues) {
      const missing = o.queues.filter((q) => !this.#queues.has(q));
      if (missing.length > 0) this.#log.warn("queues_missing", { queues: missing });
    }
  }

  #begin({ job, queue, leasedAt, leaseMs }: Held): void {
    const controller = new AbortController();
    const startedAt = performance.now();
    // setTimeout fires at once for delays past 2^31-1 ms; no attempt runs 24 days anyway.
    const timeoutMs = Math.min(job.timeoutMs ?? queue.effective.timeoutMs, 2 ** 31 - 1);
    const flight: InFlight = {
      job,
      controller,
      startedAt,
      decided: false,
      queue,
      timeoutAt: startedAt + timeoutMs,
      timeoutMs,
      leaseDeadline: leasedAt + leaseMs,
      shortLease: leaseMs < this.#o.leaseMs,
    };
    this.#inflight.set(job.id, flight);
    this.#armDeadline(Math.min(flight.timeoutAt, flight.leaseDeadline));
    const deliver = this.#deliveries[queue.effective.delivery.mode]!;
    const workerLog = this.#log;
    let log: Logger | undefined;
    // Perf (issue #8): the job's logger is built only when a handler asks for it; building it
    // for every attempt was the largest JavaScript item in a CPU profile of no-op jobs.
    const ctx = {
      job,
      signal: controller.signal,
      get log(): Logger {
        return log ??= workerLog.child({
          job_id: job.id,
          queue: job.queue,
          kind: job.kind,
          attempt: job.attempt,
        });
      },
    };
    void (async () => {
      try {
        const outcome = await deliver(job, queue, ctx);
        if (outcome.status === "succeeded") this.#succeed(flight, outcome.result);
        else if (outcome.status === "awaiting_callback") await this.#awaitCallback(flight, queue);
        else await this.#defer(flight, outcome.delayMs, outcome.reason);
      } catch (e) {
        if (flight.decided) return;
        const failure = e instanceof JobFailure
          ? e
          : new JobFailure("HANDLER_ERROR", e instanceof Error ? e.message : String(e));
        await this.#fail(flight, queue, failure, "failed");
      } finally {
        // A decided attempt whose handler ignored the abort frees its slot only now.
        if (flight.decided && !flight.awaitingWrite) {
          this.#inflight.delete(job.id);
          this.#wakeup.wake();
        }
      }
    })();
  }

  #succeed(flight: InFlight, result: unknown): void {
    if (flight.decided) return;
    flight.decided = true;
    flight.awaitingWrite = true;
    this.#observe(flight);
    const { job } = flight;
    this.#pending.push({
      id: job.id,
      attempt: job.attempt,
      leaseToken: job.leaseToken,
      result,
      flight,
    });
    // Its slot is free now (the completion is only waiting to be written): start the next held
    // job at once rather than at the next loop turn, so prefetched jobs run back to back.
    this.#startHeld();
    this.#wakeup.wake();
  }

  /** Feeds the handler's run time (start to outcome) into the average that gates prefetch. */
  #observe(flight: InFlight): void {
    const ms = performance.now() - flight.startedAt;
    this.#avgMs = this.#avgMs === Infinity ? ms : this.#avgMs * 0.9 + ms * 0.1;
  }

  /** Writes buffered completions in one statement and frees their slots. */
  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing += batch.length;
    let done: Set<string>;
    try {
      // asyncCommit: see CompleteOptions in src/queue/outcome.ts (at-least-once makes it safe).
      done = await completeJobs(this.#o.sql, batch, { asyncCommit: true });
    } catch (e) {
      // Keep them: their leases are still heartbeated, and the next pass writes them again.
      this.#pending = batch.concat(this.#pending);
      throw e;
    } finally {
      this.#flushing -= batch.length;
    }
    for (const p of batch) {
      const ok = done.has(p.id);
      const ms = performance.now() - p.flight.startedAt;
      if (ok) {
        this.#log.debug("job_succeeded", {
          job_id: p.id,
          queue: p.flight.job.queue,
          attempt: p.attempt,
          duration_ms: Math.round(ms),
        });
      } else {
        this.#log.warn("stale_lease", { job_id: p.id, attempt: p.attempt, outcome: "succeeded" });
      }
      this.#o.onAttempt?.({ job: p.flight.job, status: ok ? "succeeded" : "lost", durationMs: ms });
      this.#inflight.delete(p.id);
    }
  }

  async #fail(
    flight: InFlight,
    queue: Queue,
    failure: JobFailure,
    status: "failed" | "timeout",
  ): Promise<void> {
    if (flight.decided) return;
    flight.decided = true;
    const { job } = flight;
    const ms = performance.now() - flight.startedAt;
    this.#observe(flight);
    const delay = backoffDelayMs(job.attempt, queue.effective.backoff);
    try {
      const r = await failJob(this.#o.sql, job, {
        code: failure.code,
        message: failure.message,
        retryable: failure.retryable,
        retryAfterMs: failure.retryAfterMs,
        workerId: this.id,
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
        this.#log.warn("job_failed_permanently", { ...fields, dead_reason: r.deadReason });
      } else {
        this.#log.info("job_failed_retrying", { ...fields, retry_at: r.runAt.toISOString() });
      }
      this.#o.onAttempt?.({
        job,
        status: r.state === "dead" ? "dead" : status,
        durationMs: ms,
        code: failure.code,
      });
    } catch (e) {
      if (isSluiceError(e, "STALE_LEASE")) {
        this.#log.warn("stale_lease", { job_id: job.id, attempt: job.attempt, outcome: "failed" });
        this.#o.onAttempt?.({ job, status: "lost", durationMs: ms });
      } else {
        // The lease will expire and the reaper retries the job: at-least-once still holds.
        this.#log.error("outcome_not_recorded", { job_id: job.id, attempt: job.attempt, error: e });
      }
    }
    this.#settle(flight);
  }

  async #defer(flight: InFlight, delayMs: number, reason: string): Promise<void> {
    if (flight.decided) return;
    flight.decided = true;
    // Not attempted (open circuit): back to waiting without consuming the attempt.
    await deferJob(this.#o.sql, flight.job, delayMs, reason).catch((e) =>
      this.#log.error("outcome_not_recorded", { job_id: flight.job.id, error: e })
    );
    this.#log.info("job_deferred", { job_id: flight.job.id, delay_ms: delayMs, reason });
    this.#o.onAttempt?.({
      job: flight.job,
      status: "deferred",
      durationMs: performance.now() - flight.startedAt,
    });
    this.#settle(flight);
  }

  /**
   * The handler answered 202: the attempt stays running without heartbeats until its signed
   * callback, with its lease stretched to the attempt's deadline (the reaper then records
   * CALLBACK_TIMEOUT). Its slot is freed now.
   */
  async #awaitCallback(flight: InFlight, queue: Queue): Promise<void> {
    if (flight.decided) return;
    flight.decided = true;
    const { job } = flight;
    await awaitCallback(this.#o.sql, job, job.timeoutMs ?? queue.effective.timeoutMs).catch((e) =>
      // Unmarked, the lease simply expires and the reaper retries the job: at-least-once holds.
      this.#log.error("outcome_not_recorded", { job_id: job.id, error: e })
    );
    this.#settle(flight, "awaiting_callback");
  }

  #settle(flight: InFlight, status?: AttemptEvent["status"]): void {
    flight.decided = true;
    if (status) {
      this.#o.onAttempt?.({
        job: flight.job,
        status,
        durationMs: performance.now() - flight.startedAt,
      });
    }
    this.#inflight.delete(flight.job.id);
    this.#startHeld();
    this.#wakeup.wake();
  }

  /**
   * A renewed lease runs out later by this process's clock: `renewedAt` is when the lease or
   * heartbeat statement was sent, so the local deadline is never later than the database's.
   */
  #armLease(flight: InFlight, renewedAt: number): void {
    // Only later: a late reply from an older beat must not pull back what a newer one renewed.
    flight.leaseDeadline = Math.max(flight.leaseDeadline, renewedAt + this.#o.leaseMs);
    this.#armDeadline(flight.leaseDeadline);
  }

  /**
   * One timer for every attempt's deadlines, set for the earliest (Perf, issue #8: two timers per
   * attempt, set and cleared, were the largest item of the worker's own CPU time on no-op jobs).
   * It only moves earlier here; when it fires, #onDeadline handles what is due and sets it for
   * the next deadline, so a finished attempt costs nothing.
   */
  #armDeadline(at: number): void {
    if (this.#deadlineAt !== undefined && this.#deadlineAt <= at) return;
    clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = setTimeout(
      () => this.#onDeadline(),
      Math.max(0, Math.ceil(at - performance.now())),
    );
  }

  /**
   * A timeout aborts the handler and records a TIMEOUT failure. A lease that ran out by this
   * process's clock (a worker cut off from PostgreSQL: heartbeats hang or fail) aborts the
   * handler too, because the reaper hands the job to another worker right after the expiry.
   */
  #onDeadline(): void {
    this.#deadlineAt = undefined;
    this.#deadlineTimer = undefined;
    // 1 ms of slack: a timer may wake a fraction of a millisecond before performance.now()
    // reaches its deadline, and firing that early is harmless.
    const now = performance.now() + 1;
    let next = Infinity;
    for (const flight of [...this.#inflight.values()]) {
      if (flight.decided) continue;
      if (flight.leaseDeadline <= now && flight.leaseDeadline <= flight.timeoutAt) {
        flight.controller.abort(
          new JobFailure("STALE_LEASE", "the lease expired before a heartbeat could renew it"),
        );
        this.#log.warn("lease_lost", {
          job_id: flight.job.id,
          attempt: flight.job.attempt,
          reason: "expired_without_heartbeat",
        });
        this.#settle(flight, "lost");
      } else if (flight.timeoutAt <= now) {
        const reason = new JobFailure(
          "TIMEOUT",
          `attempt ${flight.job.attempt} ran longer than its timeout of ${flight.timeoutMs} ms`,
        );
        flight.controller.abort(reason);
        void this.#fail(flight, flight.queue, reason, "timeout");
      } else {
        next = Math.min(next, flight.timeoutAt, flight.leaseDeadline);
      }
    }
    if (next !== Infinity) this.#armDeadline(next);
  }

  /** Extends leases of undecided attempts and of completions not yet written. */
  async #beat(): Promise<void> {
    // A slow database must not stack heartbeats on top of each other: at most two at a time.
    // A beat stuck on a dead connection (a reply lost, or a connection blackholed until TCP
    // gives up) stops holding back the next ticks after a lease's length, so a later beat can
    // renew on another pool connection instead of every lease being lost.
    const now = performance.now();
    if (this.#beats >= 2 || (this.#beats === 1 && now - this.#lastBeatAt < this.#o.leaseMs)) {
      return;
    }
    this.#beats++;
    this.#lastBeatAt = now;
    try {
      await this.#beatOnce();
    } finally {
      this.#beats--;
    }
  }

  /**
   * Started attempts only: held jobs wait unrenewed on their short lease, so a heartbeat never
   * keeps a job that has not started from other workers (issue #14.6).
   */
  async #beatOnce(): Promise<void> {
    const fences: Fence[] = [];
    for (const f of this.#inflight.values()) {
      if (!f.decided || f.awaitingWrite) fences.push(f.job);
    }
    try {
      await touchWorker(this.#o.sql, this.id);
      await this.#renew(fences);
    } catch (e) {
      this.#log.warn("heartbeat_failed", { error: e, jobs: fences.length });
    }
  }

  /** Extends these attempts' leases in one statement; aborts the ones lost or cancelled. */
  async #renew(fences: Fence[]): Promise<void> {
    if (fences.length === 0) return;
    const o = this.#o;
    const sentAt = performance.now();
    const { alive, cancelRequested } = await heartbeatJobs(o.sql, fences, o.leaseMs);
    for (const fence of fences) {
      const flight = this.#inflight.get(fence.id);
      if (!flight || flight.decided) continue;
      if (!alive.has(fence.id)) {
        flight.controller.abort(
          new JobFailure("STALE_LEASE", "the lease was lost; another attempt may run"),
        );
        this.#log.warn("lease_lost", { job_id: fence.id, attempt: fence.attempt });
        this.#settle(flight, "lost");
        continue;
      }
      flight.shortLease = false;
      this.#armLease(flight, sentAt);
      if (cancelRequested.has(fence.id)) {
        flight.controller.abort(
          new JobFailure("CANCELLED", "cancelled by an operator", { retryable: false }),
        );
        flight.decided = true;
        await finishCancelled(o.sql, fence, this.id).catch(() => {});
        this.#log.info("job_cancelled", { job_id: fence.id, attempt: fence.attempt });
        this.#settle(flight, "cancelled");
      }
    }
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
    const deadline = Date.now() + o.shutdownGraceMs;
    this.#log.info("worker_stopping", {
      in_flight: this.#inflight.size,
      grace_ms: o.shutdownGraceMs,
    });
    while (Date.now() < deadline) {
      await this.#flush().catch((e) => this.#log.warn("flush_failed", { error: e }));
      if (this.#inflight.size === 0) break;
      // Attempts started on a prefetch lease still need their full lease to finish the grace.
      await this.#renewStarted().catch((e) => this.#log.warn("heartbeat_failed", { error: e }));
      await this.#wakeup.wait(Math.min(100, Math.max(1, deadline - Date.now())));
    }
    await this.#flush().catch((e) => this.#log.warn("flush_failed", { error: e }));
    const held = this.#held.splice(0);
    if (held.length > 0) {
      const released = await releaseJobs(o.sql, held.map((h) => h.job)).catch((e) => {
        this.#log.error("release_failed", { error: e, jobs: held.length });
        return new Set<string>();
      });
      this.#log.info("jobs_released", { count: released.size, prefetched: true });
    }
    const rest = [...this.#inflight.values()].filter((f) => !f.decided);
    if (rest.length > 0) {
      for (const f of rest) {
        f.decided = true;
        f.controller.abort(
          new JobFailure("SHUTDOWN", "the worker stopped before the attempt finished"),
        );
      }
      const released = await releaseJobs(o.sql, rest.map((f) => f.job)).catch((e) => {
        this.#log.error("release_failed", { error: e, jobs: rest.length });
        return new Set<string>();
      });
      for (const f of rest) {
        this.#o.onAttempt?.({
          job: f.job,
          status: "released",
          durationMs: performance.now() - f.startedAt,
        });
      }
      this.#log.info("jobs_released", { count: released.size });
    }
    clearInterval(this.#heartbeat);
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#recheck);
    await this.#listener?.close();
    await stopWorker(o.sql, this.id).catch(() => {});
    this.#log.info("worker_stopped", {});
  }
}
