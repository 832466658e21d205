import type { Clock, TimerId } from "../../src/worker/clock.ts";

interface Timer {
  at: number;
  fn: () => void;
  every?: number;
}

/** A clock that stands still until `advance`, which runs the timers due on the way in order. */
export class FakeClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();

  now(): number {
    return this.#now;
  }

  /**
   * A timer already due (0 ms) fires on its own, soon, as a real one would: the loop's wait
   * for a deadline that passed while it was busy must not hang until the next `advance`.
   */
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    if (ms <= 0) {
      setTimeout(() => {
        if (this.#timers.delete(id)) fn();
      }, 0);
    }
    return id;
  }

  clearTimeout(id: TimerId | undefined): void {
    this.#timers.delete(id as number);
  }

  setInterval(fn: () => void, ms: number): TimerId {
    const every = Math.max(1, ms);
    this.#timers.set(++this.#seq, { at: this.#now + every, fn, every });
    return this.#seq;
  }

  clearInterval(id: TimerId | undefined): void {
    this.#timers.delete(id as number);
  }

  /** A one-shot timer is set for `ms` from now: e.g. a loop asleep on its poll interval. */
  waitingFor(ms: number): boolean {
    for (const t of this.#timers.values()) if (!t.every && t.at === this.#now + ms) return true;
    return false;
  }

  /** Moves time forward by `ms`, synchronously: nothing else runs between two timers. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, t] = next;
      this.#now = t.at;
      if (t.every) t.at += t.every;
      else this.#timers.delete(id);
      t.fn();
    }
    this.#now = end;
  }
}
