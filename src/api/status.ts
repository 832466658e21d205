/**
 * The one system status, `online | degraded | offline` with a plain reason per finding, behind
 * both `/health` and `GET /v1/ops/queues` (which the ops page's overview shows), so the two can
 * never disagree again (/health said "ok" while the overview said "degraded").
 *
 * Rules (the triage snapshot, src/api/triage.ts, supplies the first ones):
 *   offline   this api is not ready (database unreachable, migrations pending, disk low: /health
 *             answers 503 then); no worker is online
 *   degraded  no live maintenance leader; an alert firing; stale workers; overdue schedules;
 *             http delivery without signing secrets; a queue with available jobs that no online
 *             worker serves; a paused queue with jobs waiting; a queue whose http destination's
 *             circuit is open; this process's OTLP export of a signal failing (its last
 *             export failed, none succeeded since)
 *   online    none of the above
 *
 * The report is shared for a couple of seconds per api process (one query set in flight at a
 * time): every open ops page polls it, and anonymous `/health` probes reach it too.
 */
import { listCircuits, originOf } from "../delivery/circuit.ts";
import { opsAlerts } from "../maintenance/alerts.ts";
import { checkTableHealth, type TableHealth } from "../maintenance/table_health.ts";
import { type OpsQueuesSnapshot, opsQueuesSnapshot, type OpsStatus } from "./triage.ts";
import { shared } from "./_shared.ts";
import type { Config } from "../config/vars.ts";
import type { Sql } from "../db/connect.ts";
import type { EngineDefaults } from "../queue/queues.ts";
import type { Telemetry } from "../obs/telemetry/mod.ts";
import { telemetryHealth } from "./telemetry_health.ts";

const CACHE_MS = 2_000;

export interface StatusReport {
  status: OpsStatus;
  reasons: string[];
  /** The triage snapshot, with the status and reasons above. */
  snapshot: OpsQueuesSnapshot;
  /** Queues that will not make progress, each with why (part of `reasons` too). */
  degradedQueues: { name: string; reason: string }[];
  openCircuits: {
    origin: string;
    state: string;
    openedAt: string | null;
    openUntil: string | null;
    lastFailure: string | null;
  }[];
  firingAlerts: {
    name: string;
    subject: string;
    value: number | null;
    threshold: number | null;
    firedAt: string | null;
  }[];
  tableHealth: TableHealth;
  signingWarning: string | null;
}

export interface StatusService {
  /** The current report (at most CACHE_MS old). */
  report(): Promise<StatusReport>;
}

/** What the status reads from the api's deps (ApiDeps has them; named here to import none). */
interface StatusDeps {
  sql: Sql;
  config: Config;
  defaults: EngineDefaults;
  telemetry?: Telemetry;
}

export function statusService(
  ctx: StatusDeps & { statusCacheMs?: number },
): StatusService {
  return { report: shared(ctx.statusCacheMs ?? CACHE_MS, () => buildReport(ctx)) };
}

/** The status for a process that is not ready: offline, with readiness's reason. */
export function notReady(reason: string): { status: OpsStatus; reasons: string[] } {
  return { status: "offline", reasons: [reason] };
}

async function buildReport(
  { sql, config, defaults, telemetry }: StatusDeps,
): Promise<StatusReport> {
  const [snapshot, circuits, alerts, tableHealth] = await Promise.all([
    opsQueuesSnapshot(sql, { defaults, signingSecrets: config.signingSecrets.length }),
    listCircuits(sql),
    opsAlerts(sql, { limit: 0 }),
    checkTableHealth(sql, {
      xminHorizonMs: config.xminHorizonWarnMs,
      deadTupleRatio: config.deadTupleRatioWarn,
    }),
  ]);
  const open = circuits.filter((x) => x.state !== "closed");
  const openByOrigin = new Map(open.map((x) => [x.origin, x]));
  const degradedQueues: StatusReport["degradedQueues"] = [];
  for (const q of snapshot.queues) {
    if (q.paused && q.counts.available > 0) {
      degradedQueues.push({ name: q.name, reason: `paused with ${q.counts.available} waiting` });
    }
    const d = q.policy.delivery;
    const circuit = d.mode === "http" ? openByOrigin.get(safeOrigin(d.url)) : undefined;
    if (circuit) {
      degradedQueues.push({
        name: q.name,
        reason: `circuit ${circuit.state} for '${circuit.origin}' until ${circuit.openUntil}`,
      });
    }
  }
  const reasons = [
    ...snapshot.reasons,
    ...degradedQueues.map((q) => `queue '${q.name}' ${q.reason}`),
    ...failingExports(telemetry),
  ];
  const status: OpsStatus = snapshot.status === "offline"
    ? "offline"
    : reasons.length > 0
    ? "degraded"
    : "online";
  const http = snapshot.queues.filter((q) => q.policy.delivery.mode === "http").length;
  return {
    status,
    reasons,
    snapshot: { ...snapshot, status, reasons },
    degradedQueues,
    openCircuits: open.map((x) => ({
      origin: x.origin,
      state: x.state,
      openedAt: x.openedAt,
      openUntil: x.openUntil,
      lastFailure: x.lastFailure,
    })),
    firingAlerts: alerts.firing.map((a) => ({
      name: a.name,
      subject: a.subject,
      value: a.value,
      threshold: a.threshold,
      firedAt: a.firedAt,
    })),
    tableHealth,
    signingWarning: http > 0 && config.signingSecrets.length === 0
      ? `${http} queue(s) deliver over http but SLUICE_SIGNING_SECRETS is empty: requests go unsigned`
      : null,
  };
}

/**
 * Signals whose exporter is failing now: the last export failed and none succeeded since. Jobs
 * still run (export never blocks them), but traces, metrics or logs are being lost, which is
 * what an operator watching the overview needs to know.
 */
function failingExports(t: Telemetry | undefined): string[] {
  return telemetryHealth(t).signals.flatMap((s) =>
    s.lastError && (s.lastSuccessAt === null || s.lastError.at > s.lastSuccessAt)
      ? [`OTLP export of ${s.signal} failing since ${s.lastError.at}: ${s.lastError.message}`]
      : []
  );
}

function safeOrigin(url: string): string {
  try {
    return originOf(url);
  } catch {
    return "";
  }
}
