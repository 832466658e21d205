/**
 * Per-token and per-IP request limits of one api process: fixed one-minute windows in memory.
 * In memory is enough here: the limit protects this process's capacity and the database behind
 * it; a fleet of N api processes admits at most N times the limit, which the operator sizes.
 */
import type { Logger } from "../obs/log.ts";
import { SluiceError } from "../errors.ts";

/** Denials counted by scope, for the metrics endpoint (`sluice_rate_limit_events_total`). */
export interface RateLimitEvents {
  token: number;
  ip: number;
  /** Admission control: ENQUEUE_RATE_EXCEEDED and QUEUE_FULL. */
  queue: number;
}

export type RateLimitScope = keyof RateLimitEvents;

export class RateLimiter {
  /** Denials per scope since start (all routes). */
  readonly events: RateLimitEvents = { token: 0, ip: 0, queue: 0 };
  /** Denials per scope and route pattern, for `sluice_rate_limit_events_total{scope,route}`. */
  readonly byRoute = new Map<string, { scope: RateLimitScope; route: string; count: number }>();
  readonly #perMinute: number | null;
  readonly #log: Logger;
  readonly #now: () => number;
  #window = -1;
  #counts = new Map<string, number>();

  constructor(
    perMinute: number | null,
    log: Logger,
    { now = Date.now }: { now?: () => number } = {},
  ) {
    this.#perMinute = perMinute;
    this.#log = log;
    this.#now = now;
  }

  /** Counts one denial on `route` (a route pattern, never a raw path: see routeLabel()). */
  count(scope: RateLimitScope, route: string): void {
    this.events[scope]++;
    const id = `${scope} ${route}`;
    const seen = this.byRoute.get(id);
    if (seen) seen.count++;
    // Route patterns are a fixed set (plus `unmatched`), so this map stays small.
    else this.byRoute.set(id, { scope, route, count: 1 });
  }

  /**
   * Counts one request for `key` on `route`; throws RATE_LIMITED (with Retry-After) past the
   * limit.
   */
  hit(scope: "token" | "ip", key: string, route: string): void {
    if (this.#perMinute === null) return;
    const now = this.#now();
    const window = Math.floor(now / 60_000);
    if (window !== this.#window) {
      // A new minute starts every key from zero; dropping the map also bounds its memory.
      this.#window = window;
      this.#counts = new Map();
    }
    const id = `${scope}:${key}`;
    const n = (this.#counts.get(id) ?? 0) + 1;
    this.#counts.set(id, n);
    if (n <= this.#perMinute) return;
    this.count(scope, route);
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000));
    // One log line per key per minute, not one per refused request.
    if (n === this.#perMinute + 1) {
      this.#log.warn("rate_limited", {
        scope,
        key,
        route,
        limit: this.#perMinute,
        retry_after_s: retryAfterSeconds,
      });
    }
    throw new SluiceError(
      "RATE_LIMITED",
      `more than ${this.#perMinute} requests per minute from this ${scope}; retry in ${retryAfterSeconds}s`,
      { scope, limit: this.#perMinute, retryAfterSeconds },
    );
  }
}
