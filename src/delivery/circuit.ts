import type { Db } from "../db/connect.ts";
import { type Circuit, type CircuitRow, type CircuitState, toCircuit } from "../queue/circuits.ts";
import type { Logger } from "../obs/log.ts";
import { silentLogger } from "../obs/log.ts";

/**
 * Circuit breakers per http target origin, with their state in `sluice.circuits` so every
 * worker sees the same circuit.
 *
 *   closed     requests flow; outcomes are counted. Opens after `failures` consecutive failures
 *              or a failure ratio of `failureRatio` over `windowMs` (after `minRequests`).
 *   open       no requests until `open_until` (cooldown); jobs are deferred, not failed.
 *   half_open  the cooldown ended and one worker holds the probe: its success closes the
 *              circuit, its failure opens it for another cooldown. Others keep deferring.
 *
 * Failures are 5xx, connection errors and timeouts: the target is unwell. 4xx and 429 are
 * answers about the request, not the target's health, so they count as successes.
 */

export interface CircuitSettings {
  failures: number;
  failureRatio: number;
  windowMs: number;
  cooldownMs: number;
  /** Requests in the window before the ratio can open the circuit. */
  minRequests: number;
  /** Outcomes are merged into the shared row at most this often per origin. */
  flushMs: number;
  /** A worker re-reads a circuit's state at most this often (admission is from the cache). */
  refreshMs: number;
}

export const DEFAULT_CIRCUIT_SETTINGS: CircuitSettings = {
  failures: 5,
  failureRatio: 0.5,
  windowMs: 60_000,
  cooldownMs: 30_000,
  minRequests: 20,
  flushMs: 200,
  refreshMs: 1_000,
};

export {
  type Circuit,
  type CircuitState,
  getCircuit,
  listCircuits,
  originOf,
} from "../queue/circuits.ts";

export interface OutcomeDelta {
  successes: number;
  failures: number;
  /** Failures after the last success of this batch (the batch's consecutive tail). */
  trailingFailures: number;
  lastFailure: string | null;
}

export type Transition = { to: "open"; circuit: Circuit } | { to: "closed"; circuit: Circuit };

/**
 * Merges one worker's batch of outcomes into the shared row and opens the circuit when a
 * threshold is crossed. The opening statement is conditional on `state = 'closed'`, so exactly
 * one worker sees (and logs) the transition.
 */
export async function recordCircuitOutcomes(
  sql: Db,
  origin: string,
  d: OutcomeDelta,
  s: CircuitSettings,
): Promise<Transition | null> {
  await sql`
    INSERT INTO sluice.circuits AS c
      (origin, consecutive_failures, window_successes, window_failures, last_failure)
    VALUES (${origin}, ${d.trailingFailures}, ${d.successes}, ${d.failures}, ${d.lastFailure})
    ON CONFLICT (origin) DO UPDATE SET
      consecutive_failures = CASE WHEN ${d.successes}::int > 0 THEN ${d.trailingFailures}::int
        ELSE c.consecutive_failures + ${d.failures}::int END,
      window_successes = CASE WHEN c.window_start < now() - ${s.windowMs} * interval '1 millisecond'
        THEN 0 ELSE c.window_successes END + ${d.successes}::int,
      window_failures = CASE WHEN c.window_start < now() - ${s.windowMs} * interval '1 millisecond'
        THEN 0 ELSE c.window_failures END + ${d.failures}::int,
      window_start = CASE WHEN c.window_start < now() - ${s.windowMs} * interval '1 millisecond'
        THEN now() ELSE c.window_start END,
      last_failure = coalesce(${d.lastFailure}, c.last_failure),
      updated_at = now()`;
  if (d.failures === 0) return null;
  const [opened] = await sql<CircuitRow[]>`
    UPDATE sluice.circuits SET state = 'open', opened_at = now(),
      open_until = now() + ${s.cooldownMs} * interval '1 millisecond', updated_at = now()
    WHERE origin = ${origin} AND state = 'closed' AND (
      consecutive_failures >= ${s.failures}
      OR (window_successes + window_failures >= ${s.minRequests}
        AND window_failures >= ${s.failureRatio}::float8 * (window_successes + window_failures)))
    RETURNING *`;
  return opened ? { to: "open", circuit: toCircuit(opened) } : null;
}

/**
 * After the cooldown, one worker takes the probe (half_open). A probe whose holder vanished is
 * taken over once `probe_expires_at` passes.
 */
export async function acquireProbe(
  sql: Db,
  origin: string,
  holder: string,
  probeTimeoutMs: number,
): Promise<boolean> {
  const rows = await sql`
    UPDATE sluice.circuits SET state = 'half_open', probe_holder = ${holder},
      probe_expires_at = now() + ${probeTimeoutMs} * interval '1 millisecond', updated_at = now()
    WHERE origin = ${origin} AND (
      (state = 'open' AND open_until <= now())
      OR (state = 'half_open' AND probe_expires_at < now()))
    RETURNING origin`;
  return rows.length > 0;
}

/** The probe's result: closes the circuit (counts reset) or opens it for another cooldown. */
export async function recordProbe(
  sql: Db,
  origin: string,
  holder: string,
  ok: boolean,
  failure: string | null,
  s: CircuitSettings,
): Promise<Transition | null> {
  const [row] = ok
    ? await sql<CircuitRow[]>`
      UPDATE sluice.circuits SET state = 'closed', consecutive_failures = 0, window_start = now(),
        window_successes = 0, window_failures = 0, opened_at = NULL, open_until = NULL,
        probe_holder = NULL, probe_expires_at = NULL, updated_at = now()
      WHERE origin = ${origin} AND state = 'half_open' AND probe_holder = ${holder}
      RETURNING *`
    : await sql<CircuitRow[]>`
      UPDATE sluice.circuits SET state = 'open', opened_at = now(),
        open_until = now() + ${s.cooldownMs} * interval '1 millisecond',
        probe_holder = NULL, probe_expires_at = NULL,
        last_failure = coalesce(${failure}, last_failure), updated_at = now()
      WHERE origin = ${origin} AND state = 'half_open' AND probe_holder = ${holder}
      RETURNING *`;
  if (!row) return null;
  return { to: ok ? "closed" : "open", circuit: toCircuit(row) };
}

export type Admission =
  | { ok: true; probe: string | null }
  | { ok: false; delayMs: number; circuit: { origin: string; state: CircuitState } };

interface Cached {
  state: CircuitState;
  /** Local-clock deadlines derived from the database's own `now()`. */
  openUntil: number;
  probeUntil: number;
  fetchedAt: number;
}

interface Pending extends OutcomeDelta {
  origin: string;
}

/**
 * One worker's view of the shared circuits: admission is answered from a cache refreshed at
 * most every `refreshMs`; outcomes are batched and merged every `flushMs`. At 3,000 pushes per
 * second that is a handful of statements per second instead of one per request.
 */
export class CircuitBreaker {
  readonly #sql: Db;
  readonly #s: CircuitSettings;
  readonly #log: Logger;
  readonly #cache = new Map<string, Cached>();
  readonly #pending = new Map<string, Pending>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(
    sql: Db,
    settings: Partial<CircuitSettings> = {},
    log: Logger = silentLogger,
  ) {
    this.#sql = sql;
    this.#s = { ...DEFAULT_CIRCUIT_SETTINGS, ...settings };
    this.#log = log;
  }

  get settings(): CircuitSettings {
    return this.#s;
  }

  /**
   * May a request go to `origin` now? When the cooldown has ended, the first caller gets the
   * probe (`probe` is its holder id, pass it back to `record`).
   */
  async admit(origin: string, holder: string, probeTimeoutMs: number): Promise<Admission> {
    const now = Date.now();
    let c = this.#cache.get(origin);
    if (!c || now - c.fetchedAt > this.#s.refreshMs) c = await this.#refresh(origin);
    if (c.state === "closed") return { ok: true, probe: null };
    if (c.state === "open" && c.openUntil > now) return this.#deny(origin, c, c.openUntil - now);
    if (c.state === "half_open" && c.probeUntil > now) {
      return this.#deny(origin, c, c.probeUntil - now);
    }
    if (await acquireProbe(this.#sql, origin, holder, probeTimeoutMs)) {
      this.#cache.set(origin, {
        state: "half_open",
        openUntil: 0,
        probeUntil: now + probeTimeoutMs,
        fetchedAt: now,
      });
      this.#log.info("circuit_probe", { origin, holder });
      return { ok: true, probe: holder };
    }
    c = await this.#refresh(origin);
    if (c.state === "closed") return { ok: true, probe: null };
    return this.#deny(origin, c, Math.max(c.openUntil, c.probeUntil) - Date.now());
  }

  #deny(origin: string, c: Cached, remainingMs: number): Admission {
    // Half-open: wait for the probe, but not longer than a cooldown. Jitter spreads the wave of
    // deferred jobs that all become due when the cooldown ends.
    const base = c.state === "half_open"
      ? Math.min(Math.max(remainingMs, 500), this.#s.cooldownMs)
      : Math.max(remainingMs, 0);
    const delayMs = Math.round(base + Math.random() * Math.min(1_000, base * 0.1) + 10);
    return { ok: false, delayMs, circuit: { origin, state: c.state } };
  }

  /**
   * Counts one request's outcome: true for success, false for failure (`code` says which),
   * null for neither (never sent). A probe's outcome is written at once.
   */
  async record(
    origin: string,
    ok: boolean | null,
    code: string | null,
    probe: string | null,
  ): Promise<void> {
    if (probe !== null) {
      const t = ok === null
        ? null
        : await recordProbe(this.#sql, origin, probe, ok, code, this.#s).catch((e) => {
          this.#log.warn("circuit_update_failed", { origin, error: e });
          return null;
        });
      this.#cache.delete(origin);
      if (t) this.#logTransition(t);
      return;
    }
    if (ok === null) return;
    let p = this.#pending.get(origin);
    if (!p) {
      p = { origin, successes: 0, failures: 0, trailingFailures: 0, lastFailure: null };
      this.#pending.set(origin, p);
    }
    if (ok) {
      p.successes++;
      p.trailingFailures = 0;
    } else {
      p.failures++;
      p.trailingFailures++;
      p.lastFailure = code;
    }
    if (this.#timer === null && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.flush();
      }, this.#s.flushMs);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Writes the batched outcomes now. */
  async flush(): Promise<void> {
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    for (const d of batch) {
      try {
        const t = await recordCircuitOutcomes(this.#sql, d.origin, d, this.#s);
        if (t) {
          this.#cache.delete(d.origin);
          this.#logTransition(t);
        }
      } catch (e) {
        // Best effort: a lost batch only delays an opening.
        this.#log.warn("circuit_update_failed", { origin: d.origin, error: e });
      }
    }
  }

  /** Flushes and stops the timer (worker shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
  }

  #logTransition(t: Transition): void {
    const c = t.circuit;
    if (t.to === "open") {
      this.#log.warn("circuit_opened", {
        origin: c.origin,
        consecutive_failures: c.consecutiveFailures,
        window_failures: c.windowFailures,
        window_successes: c.windowSuccesses,
        last_failure: c.lastFailure,
        open_until: c.openUntil,
      });
    } else {
      this.#log.info("circuit_closed", { origin: c.origin });
    }
  }

  async #refresh(origin: string): Promise<Cached> {
    const [row] = await this.#sql<
      { state: CircuitState; open_ms: number | null; probe_ms: number | null }[]
    >`
      SELECT state,
        (extract(epoch FROM open_until - now()) * 1000)::float8 AS open_ms,
        (extract(epoch FROM probe_expires_at - now()) * 1000)::float8 AS probe_ms
      FROM sluice.circuits WHERE origin = ${origin}`;
    const now = Date.now();
    const c: Cached = {
      state: row?.state ?? "closed",
      openUntil: now + (row?.open_ms ?? 0),
      probeUntil: now + (row?.probe_ms ?? 0),
      fetchedAt: now,
    };
    this.#cache.set(origin, c);
    return c;
  }
}
