import { heartbeatJobs } from "../queue/outcome.ts";
import { touchWorker } from "../queue/workers.ts";
import { type Attempt, keepsLease } from "./attempt.ts";
import type { TimerId } from "./clock.ts";
import type { WorkerContext } from "./context.ts";

export interface HeartbeatDeps extends WorkerContext {
  leaseMs: number;
  /** The lease of a running attempt is gone: another attempt may run. */
  onLost(a: Attempt): void;
  /** A renewal moved a running attempt's local lease deadline to `at`. */
  armDeadline(at: number): void;
  /** An operator asked to cancel this running attempt. */
  onCancel(a: Attempt): Promise<void>;
  /** An operator asked this worker to quiet down (POST /v1/workers/{id}/quiet). */
  onQuiet(): void;
}

/**
 * Renews the leases of started attempts at a third of the lease. Held jobs are not renewed:
 * they wait on their short lease, so a heartbeat never keeps a job that has not started from
 * other workers (issue #14.6).
 */
export class Heartbeat {
  #timer?: TimerId;
  /** Beats in flight, and when the latest began. */
  #beats = 0;
  #lastBeatAt = 0;

  constructor(private readonly deps: HeartbeatDeps) {}

  start(): void {
    const every = Math.max(50, Math.floor(this.deps.leaseMs / 3));
    this.#timer = this.deps.clock.setInterval(() => void this.beat(), every);
  }

  stop(): void {
    this.deps.clock.clearInterval(this.#timer);
  }

  /** Beats sent and not answered yet. */
  get beatsInFlight(): number {
    return this.#beats;
  }

  /** One beat; failures are logged (the next tick tries again). */
  async beat(): Promise<void> {
    const { clock, leaseMs, log, sql, workerId, attempts } = this.deps;
    // A slow database must not stack heartbeats on top of each other: at most two at a time.
    // A beat stuck on a dead connection (a reply lost, or a connection blackholed until TCP
    // gives up) stops holding back the next ticks after a lease's length, so a later beat can
    // renew on another pool connection instead of every lease being lost.
    const now = clock.now();
    if (this.#beats >= 2 || (this.#beats === 1 && now - this.#lastBeatAt < leaseMs)) return;
    this.#beats++;
    this.#lastBeatAt = now;
    const kept = [...attempts.values()].filter((a) => keepsLease(a.state));
    try {
      const { quiet } = await touchWorker(sql, workerId);
      if (quiet) this.deps.onQuiet();
      await this.renew(kept);
    } catch (e) {
      log.warn("heartbeat_failed", { error: e, jobs: kept.length });
    } finally {
      this.#beats--;
    }
  }

  /** Extends these attempts' leases in one statement; reports the ones lost or cancelled. */
  async renew(list: Attempt[]): Promise<void> {
    if (list.length === 0) return;
    const { sql, leaseMs, clock, attempts } = this.deps;
    const sentAt = clock.now();
    const { alive, cancelRequested } = await heartbeatJobs(sql, list.map((a) => a.job), leaseMs);
    for (const a of list) {
      // Only attempts still running: a success being written is renewed, nothing more.
      if (attempts.get(a.job.id) !== a || a.state.tag !== "running") continue;
      if (!alive.has(a.job.id)) this.deps.onLost(a);
      else {
        const { run } = a.state;
        run.shortLease = false;
        // The local deadline counts from when the statement was sent, so it is never later than
        // the database's; and it only moves later: a late reply from an older beat must not
        // pull back what a newer one renewed.
        run.leaseDeadline = Math.max(run.leaseDeadline, sentAt + leaseMs);
        this.deps.armDeadline(run.leaseDeadline);
        if (cancelRequested.has(a.job.id)) await this.deps.onCancel(a);
      }
    }
  }
}
