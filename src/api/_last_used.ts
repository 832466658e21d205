/**
 * `last_used_at` for credentials, written in one batched UPDATE every `flushMs`, never once per
 * request. Piggybacks on traffic instead of a timer: no background task to stop in tests, and
 * an idle api has nothing to write anyway; `flush()` at shutdown writes the remainder.
 */
import type { Logger } from "../obs/log.ts";

export class LastUsed {
  readonly #touch: (ids: readonly string[]) => Promise<void>;
  readonly #log: Logger;
  readonly #failedMsg: string;
  readonly #flushMs: number;
  #used = new Set<string>();
  #lastFlush = Date.now();
  #flushing: Promise<void> | null = null;

  constructor(
    touch: (ids: readonly string[]) => Promise<void>,
    log: Logger,
    { failedMsg, flushMs = 5_000 }: { failedMsg: string; flushMs?: number },
  ) {
    this.#touch = touch;
    this.#log = log;
    this.#failedMsg = failedMsg;
    this.#flushMs = flushMs;
  }

  mark(id: string, now = Date.now()): void {
    this.#used.add(id);
    if (now - this.#lastFlush >= this.#flushMs && !this.#flushing) {
      this.flush().catch((e) => this.#log.warn(this.#failedMsg, { error: e }));
    }
  }

  /** Writes the pending updates now. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    this.#lastFlush = Date.now();
    const ids = [...this.#used];
    this.#used = new Set();
    this.#flushing = this.#touch(ids).finally(() => (this.#flushing = null));
    return this.#flushing;
  }
}
