import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { silentLogger } from "../obs/log.ts";
import { Engine } from "../queue/engine.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults } from "../queue/queues.ts";
import { registerWorker, stopWorker } from "../queue/workers.ts";
import { type AttemptEvent, Attempts } from "./attempt.ts";
import { type Clock, systemClock } from "./clock.ts";
import { CompletionBatch } from "./completions.ts";
import type { WorkerContext } from "./context.ts";
import { checkDeadlines, Deadlines } from "./deadlines.ts";
import { type Deliver, execDelivery, inlineDelivery } from "./deliver.ts";
import { type HandlerMap, handlerMap } from "./handlers.ts";
import { Heartbeat } from "./heartbeat.ts";
import { Outcomes } from "./outcomes.ts";
import { LeaseLoop } from "./loop.ts";
import { Prefetch } from "./prefetch.ts";
import { parentResults } from "../queue/dependencies.ts";
import { drain } from "./shutdown.ts";
import { ServedQueues } from "./served_queues.ts";
import { Slots } from "./slots.ts";
import { Wakeup } from "./_wakeup.ts";
import { Listener } from "./_listener.ts";
import { AttemptTracing } from "./tracing.ts";

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
  /** Spans per lease batch and attempt (src/worker/tracing.ts): set when telemetry is on. */
  tracing?: boolean;
}

/**
 * A worker process's engine room: leases in batches up to the free concurrency (and beyond it
 * while attempts are fast, see prefetch.ts), runs attempts concurrently, and on stop releases
 * what it could not finish within the grace period. The loop is loop.ts, the slots slots.ts; an
 * attempt's life is the state machine in attempt.ts; heartbeats, deadlines, batched completions
 * and the other outcomes are one module each. This class wires them and owns start and stop.
 */
export class Worker {
  readonly id: string;
  readonly #o: WorkerOptions & { handlers: HandlerMap; log: Logger; engine: Engine };
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #attempts = new Attempts();
  readonly #prefetch: Prefetch;
  readonly #completions: CompletionBatch;
  readonly #heartbeat: Heartbeat;
  readonly #deadlines: Deadlines;
  readonly #queues: ServedQueues;
  readonly #wakeup: Wakeup;
  readonly #loop: LeaseLoop;
  #stopping = false;
  #running: Promise<void> | null = null;
  #listener?: Listener;

  constructor(opts: WorkerOptions) {
    this.id = opts.workerId;
    const o = this.#o = {
      handlers: handlerMap(),
      log: silentLogger,
      ...opts,
      engine: opts.engine ?? new Engine(opts.sql, { defaults: opts.defaults }),
    };
    const tracing = opts.tracing ? new AttemptTracing() : undefined;
    if (tracing) {
      const counted = o.onAttempt;
      o.onAttempt = (e) => {
        tracing.end(e);
        counted?.(e);
      };
    }
    const clock = this.#clock = opts.clock ?? systemClock;
    const log = this.#log = o.log.child({ worker_id: this.id });
    const { sql, onAttempt, concurrency, leaseMs } = o;
    const attempts = this.#attempts;
    const wakeup = this.#wakeup = new Wakeup(clock);
    const stopping = () => this.#stopping;
    const deliveries: Record<string, Deliver> = {
      inline: inlineDelivery(o.handlers),
      exec: execDelivery,
      ...(opts.deliveries as Record<string, Deliver>),
    };
    const prefetch = this.#prefetch = new Prefetch(concurrency, clock);
    const queues = this.#queues = new ServedQueues({
      sql,
      names: o.queues,
      defaults: o.defaults ?? BUILTIN_DEFAULTS,
      clock,
      log,
    });
    const ctx: WorkerContext = { sql, workerId: this.id, clock, log, attempts, onAttempt };
    const completions = this.#completions = new CompletionBatch(ctx);
    const outcomes = new Outcomes({
      ...ctx,
      observe: (ms) => prefetch.observe(ms),
      settle: (a, run, status) => slots.settle(a, run, status),
    });
    const deadlines = this.#deadlines = new Deadlines(
      clock,
      (now) =>
        checkDeadlines(attempts.values(), now, {
          leaseExpired: (a) =>
            outcomes.lose(a, "the lease expired before a heartbeat could renew it", {
              reason: "expired_without_heartbeat",
            }),
          timedOut: (a) => outcomes.timeOut(a),
        }),
    );
    const heartbeat = this.#heartbeat = new Heartbeat({
      ...ctx,
      leaseMs,
      onLost: (a) => outcomes.lose(a, "the lease was lost; another attempt may run"),
      armDeadline: (at) => deadlines.arm(at),
      onCancel: (a) => outcomes.cancel(a),
      // Not awaited: stop() waits for the loop, whose drain stops this heartbeat.
      onQuiet: () => {
        if (this.#stopping) return;
        this.#log.info("worker_quiet_requested", { running: this.#attempts.size });
        void this.stop();
      },
    });
    // One bag for both: each takes the parts it names.
    const parts = {
      ...ctx,
      deliveries,
      outcomes,
      prefetch,
      completions,
      deadlines,
      heartbeat,
      queues,
      wakeup,
      concurrency,
      leaseMs,
      stopping,
      wake: () => wakeup.wake(),
      tracing,
      parents: async (id: string) => (await parentResults(sql, [id])).get(id) ?? [],
    };
    const slots = new Slots(parts);
    this.#loop = new LeaseLoop({
      ...parts,
      slots,
      engine: o.engine,
      pollMs: o.pollMs,
      ensureListening: () => void this.#listener?.ensure(),
    });
  }

  get inFlight(): number {
    return this.#attempts.size;
  }

  inFlightIds(): string[] {
    return this.#attempts.ids();
  }

  /** Queue of the most recent lease, for the worker's own metrics. */
  get lastLeasedQueue(): string | null {
    return this.#loop.lastLeasedQueue;
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
    const listener = this.#listener = new Listener(
      o.sql,
      "sluice_jobs",
      (p) => this.#loop.notify(p),
      () => this.#wakeup.wake(),
    );
    try {
      await listener.listen();
    } catch (e) {
      await listener.close();
      throw e;
    }
    this.#heartbeat.start();
    this.#running = (async () => {
      await this.#loop.run();
      await this.#drain();
    })();
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
      renewStarted: () => this.#loop.renewStarted(),
      wait: (ms) => this.#wakeup.wait(ms),
      onAttempt: o.onAttempt,
    });
    this.#heartbeat.stop();
    this.#deadlines.stop();
    this.#loop.close();
    await this.#listener?.close();
    // The row is marked stopped for the ops page; if that write fails it ages into "offline".
    await stopWorker(o.sql, this.id).catch((e) =>
      this.#log.warn("worker_stop_record_failed", { error: e })
    );
    this.#log.info("worker_stopped", {});
  }
}
