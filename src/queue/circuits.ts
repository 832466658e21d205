/**
 * The circuits table (`sluice.circuits`) as rows and reads: what the engine's explain and the
 * ops views need to know about a destination's breaker. The breaker itself, which writes these
 * rows, is delivery's (src/delivery/circuit.ts).
 */
import type { Db } from "../db/connect.ts";

export type CircuitState = "closed" | "open" | "half_open";

export interface Circuit {
  origin: string;
  state: CircuitState;
  consecutiveFailures: number;
  windowStart: string;
  windowSuccesses: number;
  windowFailures: number;
  openedAt: string | null;
  openUntil: string | null;
  probeHolder: string | null;
  lastFailure: string | null;
  updatedAt: string;
}

export interface CircuitRow {
  origin: string;
  state: CircuitState;
  consecutive_failures: number;
  window_start: Date;
  window_successes: number;
  window_failures: number;
  opened_at: Date | null;
  open_until: Date | null;
  probe_holder: string | null;
  last_failure: string | null;
  updated_at: Date;
}

export function toCircuit(r: CircuitRow): Circuit {
  return {
    origin: r.origin,
    state: r.state,
    consecutiveFailures: r.consecutive_failures,
    windowStart: r.window_start.toISOString(),
    windowSuccesses: r.window_successes,
    windowFailures: r.window_failures,
    openedAt: r.opened_at?.toISOString() ?? null,
    openUntil: r.open_until?.toISOString() ?? null,
    probeHolder: r.probe_holder,
    lastFailure: r.last_failure,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Every known circuit, open ones first: for `GET /v1/circuits` and `/health` details. */
export async function listCircuits(sql: Db): Promise<Circuit[]> {
  const rows = await sql<CircuitRow[]>`
    SELECT * FROM sluice.circuits ORDER BY state = 'closed', origin`;
  return rows.map(toCircuit);
}

export async function getCircuit(sql: Db, origin: string): Promise<Circuit | null> {
  const [row] = await sql<CircuitRow[]>`SELECT * FROM sluice.circuits WHERE origin = ${origin}`;
  return row ? toCircuit(row) : null;
}

/** The origin a circuit is kept for: scheme, host and port (`https://api.example.com:443`). */
export function originOf(url: string | URL): string {
  const u = typeof url === "string" ? new URL(url) : url;
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.protocol}//${u.hostname}:${port}`;
}
