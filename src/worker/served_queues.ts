import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { type EngineDefaults, getQueues, listQueues, type Queue } from "../queue/queues.ts";
import type { Clock } from "./clock.ts";

const QUEUE_REFRESH_MS = 5_000;

/** The queues a worker serves, with their policies, reloaded every QUEUE_REFRESH_MS. */
export class ServedQueues {
  #queues = new Map<string, Queue>();
  /** Clock.now() of the last load; null: load before the next lease. */
  #loadedAt: number | null = null;

  constructor(
    private readonly deps: {
      sql: Sql;
      /** Names to serve; null serves every queue. */
      names: string[] | null;
      defaults: EngineDefaults;
      clock: Clock;
      log: Logger;
    },
  ) {}

  get(name: string): Queue | undefined {
    return this.#queues.get(name);
  }

  names(): string[] {
    return [...this.#queues.keys()];
  }

  /** Those a push delivery (one this worker has) can run, by name. */
  leasable(deliveries: Record<string, unknown>): string[] {
    return [...this.#queues.values()]
      .filter((q) =>
        !q.paused && q.effective.delivery.mode !== "pull" &&
        q.effective.delivery.mode in deliveries
      )
      .map((q) => q.name);
  }

  /**
   * A notification naming a queue this worker would serve but does not know yet (created since
   * the last load) reloads the list before the next lease: the first job of a new queue waited
   * up to 5 s for the refresh (issue #21.10).
   */
  noticeNotify(payload: string): void {
    if (this.#loadedAt === null) return;
    const wanted = this.deps.names;
    const unknown = payload.split(",").some((name) =>
      name !== "" && !this.#queues.has(name) && (wanted === null || wanted.includes(name))
    );
    if (unknown) this.#loadedAt = null;
  }

  async refresh(): Promise<void> {
    const now = this.deps.clock.now();
    if (this.#loadedAt !== null && now - this.#loadedAt < QUEUE_REFRESH_MS) return;
    // Perf (issue #8): once loaded, reload in the background, so a wake-up's lease never
    // waits behind the queue list (policy changes are picked up a turn later).
    if (this.#loadedAt !== null) {
      this.#loadedAt = now;
      void this.#load().catch((e) => {
        this.#loadedAt = null;
        this.deps.log.warn("queues_refresh_failed", { error: e });
      });
      return;
    }
    await this.#load();
  }

  async #load(): Promise<void> {
    const { sql, names, defaults, clock, log } = this.deps;
    this.#queues = names === null
      ? new Map((await listQueues(sql, defaults)).map((q) => [q.name, q]))
      : await getQueues(sql, names, defaults);
    this.#loadedAt = clock.now();
    if (names) {
      const missing = names.filter((q) => !this.#queues.has(q));
      if (missing.length > 0) log.warn("queues_missing", { queues: missing });
    }
  }
}
