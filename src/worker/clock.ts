/**
 * Where the worker's services get time: a monotonic `now()` in ms and timers. Injected so tests
 * move time forward themselves instead of sleeping through timeouts, leases and hold limits.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId | undefined): void;
  setInterval(fn: () => void, ms: number): TimerId;
  clearInterval(id: TimerId | undefined): void;
}

/** Opaque: whatever the clock's timers return. */
export type TimerId = unknown;

/** performance.now(): a wall-clock step (NTP, a VM resumed) must not expire leases or timeouts. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as number),
};
