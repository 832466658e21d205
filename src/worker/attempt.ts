import { SluiceError } from "../errors.ts";
import type { LeasedJob } from "../queue/job.ts";
import type { Queue } from "../queue/queues.ts";

/** How an attempt ended, once its handler returned, threw, or was aborted. */
export type Outcome =
  | "succeeded"
  | "failed"
  | "timeout"
  | "deferred"
  | "awaiting_callback"
  | "cancelled";

/** A started attempt's clock readings (Clock.now() ms). */
export interface Run {
  controller: AbortController;
  startedAt: number;
  /** Past this the attempt has run longer than its timeout. */
  timeoutAt: number;
  timeoutMs: number;
  /** Past this the lease has run out by this process's clock (never later than the database's). */
  leaseDeadline: number;
  /** Started on a prefetch lease (PREFETCH_LEASE_MS), not renewed to the full lease yet. */
  shortLease: boolean;
}

/**
 * One attempt's life. `held`: leased ahead (prefetch), not started. `running`: its handler runs.
 * `deciding`: the outcome is known, not yet sent (a success waits for the next completion
 * batch). `writing`: the outcome's statement is in flight. `done`: recorded (or left to the
 * reaper when it could not be). `released`: given back to the queue unstarted or at shutdown.
 * `lost`: the lease went to someone else (expired, or refused as stale).
 */
export type AttemptState =
  | { tag: "held"; leasedAt: number; leaseMs: number; startBy: number }
  | { tag: "running"; run: Run }
  | { tag: "deciding"; run: Run; outcome: Outcome }
  | { tag: "writing"; run: Run; outcome: Outcome }
  | { tag: "done"; run: Run; outcome: Outcome }
  | { tag: "released"; reason: string }
  | { tag: "lost" };

export type AttemptTag = AttemptState["tag"];

export interface Attempt {
  readonly job: LeasedJob;
  readonly queue: Queue;
  state: AttemptState;
}

/**
 * Every legal move, in one place. `writing → deciding` is a failed batch statement: the
 * completions wait for the next one (their leases are still renewed).
 */
const NEXT: Readonly<Record<AttemptTag, readonly AttemptTag[]>> = {
  held: ["running", "released"],
  running: ["deciding", "released", "lost"],
  deciding: ["writing"],
  writing: ["done", "lost", "deciding"],
  done: [],
  released: [],
  lost: [],
};

export function canMove(from: AttemptTag, to: AttemptTag): boolean {
  return NEXT[from].includes(to);
}

/** Moves `a` to `next`; an illegal move is a bug in the worker and throws INTERNAL. */
export function move(a: Attempt, next: AttemptState): void {
  const from = a.state.tag;
  if (!canMove(from, next.tag)) {
    throw new SluiceError(
      "INTERNAL",
      `attempt ${a.job.attempt} of job ${a.job.id} cannot go from ${from} to ${next.tag}`,
      { job_id: a.job.id, from, to: next.tag },
    );
  }
  a.state = next;
}

/** The run of a started attempt, or undefined for a held or ended one. */
export function runOf(a: Attempt): Run | undefined {
  return "run" in a.state && a.state.tag !== "done" ? a.state.run : undefined;
}

/**
 * Holds one of the worker's slots: its handler runs, or a failure-like outcome is being
 * recorded. A success waiting for its batch has finished its work and frees its slot.
 */
export function holdsSlot(s: AttemptState): boolean {
  return s.tag === "running" ||
    ((s.tag === "deciding" || s.tag === "writing") && s.outcome !== "succeeded");
}

/** Its lease must be kept: running, or a success not yet written. */
export function keepsLease(s: AttemptState): boolean {
  return s.tag === "running" ||
    ((s.tag === "deciding" || s.tag === "writing") && s.outcome === "succeeded");
}

export function isEnded(s: AttemptState): boolean {
  return NEXT[s.tag].length === 0;
}

/** Reported once per ended attempt (for metrics). */
export interface AttemptEvent {
  job: LeasedJob;
  status: Outcome | "dead" | "lost" | "released";
  durationMs: number;
  code?: string;
}

/**
 * The started attempts by job id, with the slots they hold counted as they move (a count the
 * loop reads per held job it starts, so kept rather than recounted).
 */
export class Attempts {
  readonly #byId = new Map<string, Attempt>();
  #busy = 0;

  get size(): number {
    return this.#byId.size;
  }

  /** Attempts holding a slot (see holdsSlot). */
  get busy(): number {
    return this.#busy;
  }

  values(): IterableIterator<Attempt> {
    return this.#byId.values();
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  get(id: string): Attempt | undefined {
    return this.#byId.get(id);
  }

  add(a: Attempt): void {
    this.#byId.set(a.job.id, a);
    if (holdsSlot(a.state)) this.#busy++;
  }

  move(a: Attempt, next: AttemptState): void {
    const before = holdsSlot(a.state);
    move(a, next);
    if (this.#byId.get(a.job.id) === a) this.#busy += Number(holdsSlot(next)) - Number(before);
  }

  delete(a: Attempt): void {
    if (this.#byId.get(a.job.id) !== a) return;
    this.#byId.delete(a.job.id);
    if (holdsSlot(a.state)) this.#busy--;
  }
}
