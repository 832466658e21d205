/**
 * Queue policies as the engine reads them on hot paths (enqueue, admission), cached per pool.
 *
 * The one freshness rule: an entry serves for at most `maxAgeMs` (1 s) after it was read, and
 * nothing that lets a job in rests on it alone: enqueue's INSERT re-checks, in the same
 * statement, that each queue still has the (paused, policy) the entry holds and inserts nothing
 * otherwise (enqueue.ts), and a refusal (paused, draining) is read again before it is answered.
 * So a stale entry costs a retry, never a wrong answer; the age bound only keeps the cache from
 * serving decisions the database does not re-check (admission limits) for longer than a second.
 * Misses are always read, so a queue created a moment ago is found at once.
 */
import { type Db, isTransaction } from "../db/connect.ts";
import { type EngineDefaults, getQueues, type Queue } from "./queues.ts";

const MAX_AGE_MS = 1_000;
/** A bound on memory, not a freshness policy: worst case one read more. */
const MAX_ENTRIES = 10_000;

export class QueuePolicies {
  readonly defaults: EngineDefaults;
  readonly #db: Db;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, { queue: Queue; at: number }>();

  constructor(
    db: Db,
    defaults: EngineDefaults,
    { now = () => performance.now(), maxAgeMs = MAX_AGE_MS }: {
      now?: () => number;
      maxAgeMs?: number;
    } = {},
  ) {
    this.#db = db;
    this.defaults = defaults;
    this.#now = now;
    this.#maxAgeMs = maxAgeMs;
  }

  /**
   * The named queues that exist; entries younger than the rule allows come from the cache, the
   * rest are read in one statement on `db` (default: the pool), so a caller's transaction sees
   * its own uncommitted queues. Reads through a transaction are not remembered: they may roll
   * back.
   */
  async get(names: readonly string[], db: Db = this.#db): Promise<Map<string, Queue>> {
    const now = this.#now();
    const out = new Map<string, Queue>();
    const missing = names.filter((n) => {
      const hit = this.#entries.get(n);
      if (hit && now - hit.at < this.#maxAgeMs) out.set(n, hit.queue);
      return !out.has(n);
    });
    if (missing.length > 0) {
      for (const [n, q] of await this.fresh(missing, db)) out.set(n, q);
    }
    return out;
  }

  /** Reads the named queues now, replacing their entries (and dropping those of queues gone). */
  async fresh(names: readonly string[], db: Db = this.#db): Promise<Map<string, Queue>> {
    const at = this.#now();
    const queues = await getQueues(db, names, this.defaults);
    if (!isTransaction(db)) {
      if (this.#entries.size + names.length > MAX_ENTRIES) this.#entries.clear();
      for (const n of names) {
        const q = queues.get(n);
        if (q) this.#entries.set(n, { queue: q, at });
        else this.#entries.delete(n);
      }
    }
    return queues;
  }
}
