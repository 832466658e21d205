import { type Clock, systemClock } from "./clock.ts";

/** A latch the loop sleeps on: woken by NOTIFY, a finished job, shutdown, or its own timeout. */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | null = null;

  constructor(private readonly clock: Clock = systemClock) {}

  wake(): void {
    if (this.#resolve) {
      const r = this.#resolve;
      this.#resolve = null;
      r();
    } else {
      this.#pending = true;
    }
  }

  /** Resolves true when woken, false when `ms` passed first. */
  wait(ms: number): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => {
        this.#resolve = null;
        resolve(false);
      }, ms);
      this.#resolve = () => {
        this.clock.clearTimeout(t);
        resolve(true);
      };
    });
  }
}
