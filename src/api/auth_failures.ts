/**
 * Failed authentication per client address: after `maxFailures` wrong credentials (a bearer
 * token that does not verify, a refused OIDC ID token, or a wrong token typed into the ops page's sign-in form) within
 * `windowMs`, the address is locked out, and while it is, every credential it presents is
 * refused with 429, the correct one included: otherwise the lockout would only slow down the
 * guesses that were wrong anyway. Each further lockout of the same address lasts twice as long,
 * up to `maxLockoutMs`. A session cookie that was already issued still works (it cannot be
 * guessed, and an attacker sharing the on-call engineer's NAT should not lock them out of the
 * page mid-incident).
 *
 * In process, per api process: sharing the count through the database would cost a write per
 * failed guess, which is exactly what an attacker produces at will. N api processes allow N times
 * the budget; with ~190-bit tokens guessing is hopeless anyway: this limiter makes brute force
 * loud (`auth_failed`, `auth_locked_out`, `sluice_auth_failures_total{reason}`) and slow, it is
 * not what keeps the tokens secret.
 */
import { SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";

/** `locked_out`: a credential refused unread because its address is locked out. */
export type AuthFailureReason =
  | "invalid_token"
  | "invalid_id_token"
  | "invalid_sign_in"
  | "locked_out";

export interface AuthFailureOptions {
  /** Wrong credentials per address within `windowMs` before a lockout; default 10. */
  maxFailures?: number;
  /** How long failures are remembered, from the first; default 10 minutes. */
  windowMs?: number;
  /** The first lockout; default 1 minute, doubled for each lockout that follows. */
  lockoutMs?: number;
  /** The longest lockout; default 1 hour. */
  maxLockoutMs?: number;
  now?: () => number;
}

interface AddressState {
  failures: number;
  since: number;
  lockedUntil: number;
  lockouts: number;
}

/** Addresses tracked at most; past it, forgotten entries are swept (and then all, if needed). */
const MAX_TRACKED = 100_000;

export class AuthFailureLimiter {
  /** Failures by reason since start, for the metrics endpoint. */
  readonly failures: Record<AuthFailureReason, number> = {
    invalid_token: 0,
    invalid_id_token: 0,
    invalid_sign_in: 0,
    locked_out: 0,
  };
  readonly #log: Logger;
  readonly #max: number;
  readonly #windowMs: number;
  readonly #lockoutMs: number;
  readonly #maxLockoutMs: number;
  readonly #now: () => number;
  readonly #by = new Map<string, AddressState>();

  constructor(log: Logger, opts: AuthFailureOptions = {}) {
    this.#log = log;
    this.#max = opts.maxFailures ?? 10;
    this.#windowMs = opts.windowMs ?? 10 * 60_000;
    this.#lockoutMs = opts.lockoutMs ?? 60_000;
    this.#maxLockoutMs = opts.maxLockoutMs ?? 3_600_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Throws RATE_LIMITED while `ip` is locked out: call before looking at its credential. */
  assertNotLocked(ip: string): void {
    const s = this.#by.get(ip);
    const now = this.#now();
    if (!s || s.lockedUntil <= now) return;
    this.failures.locked_out++;
    const retryAfterSeconds = Math.max(1, Math.ceil((s.lockedUntil - now) / 1000));
    throw new SluiceError(
      "RATE_LIMITED",
      `too many failed authentication attempts from this address; retry in ${retryAfterSeconds}s`,
      { scope: "auth", retryAfterSeconds },
    );
  }

  /** Records one wrong credential from `ip`; the `maxFailures`th starts a lockout. */
  fail(ip: string, reason: Exclude<AuthFailureReason, "locked_out">): void {
    const now = this.#now();
    this.failures[reason]++;
    let s = this.#by.get(ip);
    if (!s) {
      this.#makeRoom(now);
      s = { failures: 0, since: now, lockedUntil: 0, lockouts: 0 };
      this.#by.set(ip, s);
    } else if (now - s.since > this.#windowMs) {
      // A quiet window forgets the failures; an address that keeps coming back after lockouts
      // keeps its lockout count until it has been quiet for a whole window after the last one.
      if (now - s.lockedUntil > this.#windowMs) s.lockouts = 0;
      Object.assign(s, { failures: 0, since: now });
    }
    s.failures++;
    this.#log.warn("auth_failed", { ip, reason, failures: s.failures, limit: this.#max });
    if (s.failures < this.#max) return;
    s.lockouts++;
    const ms = Math.min(this.#maxLockoutMs, this.#lockoutMs * 2 ** (s.lockouts - 1));
    Object.assign(s, { lockedUntil: now + ms, failures: 0, since: now });
    this.#log.warn("auth_locked_out", {
      ip,
      failures: this.#max,
      lockout_s: Math.round(ms / 1000),
      lockouts: s.lockouts,
    });
  }

  #makeRoom(now: number): void {
    if (this.#by.size < MAX_TRACKED) return;
    for (const [ip, s] of this.#by) {
      if (s.lockedUntil <= now && now - s.since > this.#windowMs) this.#by.delete(ip);
    }
    // Still full: a flood of distinct addresses. Forgetting beats unbounded memory.
    if (this.#by.size >= MAX_TRACKED) this.#by.clear();
  }
}
