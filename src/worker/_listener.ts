import postgres from "postgres";
import type { Sql } from "../db/connect.ts";

/**
 * The worker's LISTEN connection, kept alive by the worker itself.
 *
 * Why not `sql.listen()`: postgres.js re-issues LISTEN once when the connection closes and
 * swallows a failure, so a listener lost while PostgreSQL was down (a restart) never came back
 * and the worker fell back to polling for the rest of its life (found by
 * tests/faults/postgres_restart_test.ts). Here the connection is a dedicated one-connection
 * pool built from the worker's own options; `ensure()` re-issues LISTEN whenever the last one
 * is not known to be alive, and the lease loop calls it on every pass.
 */
export class Listener {
  readonly #sql: Sql;
  readonly #channel: string;
  readonly #onListen: () => void;
  #listening = false;
  #attempt: Promise<boolean> | null = null;

  constructor(
    base: Sql,
    channel: string,
    onNotify: (payload: string) => void,
    onListen: () => void,
  ) {
    this.#channel = channel;
    this.#onListen = onListen;
    const options = base.options as unknown as Record<string, unknown>;
    this.#sql = postgres({
      ...options,
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      // Re-LISTEN attempts run one at a time: a hung one must give way quickly to the next.
      connect_timeout: 2,
      connection: {
        ...(options.connection as Record<string, unknown> | undefined),
        application_name: "sluice listen",
      },
      onnotify: (c: string, payload: string) => {
        if (c === channel) onNotify(payload);
      },
      onclose: () => {
        this.#listening = false;
      },
    } as unknown as postgres.Options<Record<string, never>>);
  }

  get listening(): boolean {
    return this.#listening;
  }

  /** LISTENs now; throws when PostgreSQL cannot be reached (for start-up). */
  async listen(): Promise<void> {
    await this.#sql`LISTEN ${this.#sql(this.#channel)}`;
    this.#listening = true;
    this.#onListen();
  }

  /** Re-issues LISTEN when it is not known to be alive; never throws, never runs twice. */
  ensure(): Promise<boolean> {
    if (this.#listening) return Promise.resolve(true);
    return this.#attempt ??= this.listen().then(() => true, () => false).finally(() => {
      this.#attempt = null;
    });
  }

  async close(): Promise<void> {
    this.#listening = false;
    await this.#sql.end({ timeout: 1 }).catch(() => {});
  }
}
