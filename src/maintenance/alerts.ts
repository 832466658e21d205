/**
 * The alert evaluator (maintenance service `alerts`). Each pass computes the DESIGN.md ratios,
 * moves each alert (per queue where it makes sense) through ok → pending → firing → ok, stores
 * the state in `sluice.alerts` and every firing/resolution in `sluice.alert_events`, and logs
 * `alert_firing` / `alert_resolved`. The `sluice_alert_firing{alert}` gauge reads the table.
 *
 * Every "for N minutes" is measured from `sluice.alerts.pending_since`, the time the condition
 * started holding, so a new maintenance leader carries on the count rather than restarting it.
 *
 *   stale_heartbeat_ratio   running jobs whose lease expired or whose worker (a `sluice worker`
 *                           or a pull worker) was not seen for 30 s, over all running jobs;
 *                           > threshold held for 5 min
 *   callback_failure_ratio  callbacks reporting a failure plus refused callbacks (bad signature,
 *                           stale, replayed, …) over all callbacks received in the last 10 min;
 *                           > threshold held for 10 min, at least 10 callbacks
 *   retry_success_rate      retried jobs (attempt > 1) finished in the last 30 min that
 *                           succeeded; < threshold held for 30 min, at least 5 such jobs
 *   success_rate            succeeded / (succeeded + dead) finished in the last 30 min;
 *                           < threshold held for 30 min, at least 10 jobs
 *   queue_depth_growing     per queue: the available depth strictly grew from each sample to
 *                           the next across SLUICE_ALERT_DEPTH_GROWTH_FOR (src/maintenance/
 *                           _depth_samples.ts); value and threshold are both seconds
 *   dlq_growth              per queue: at least SLUICE_ALERT_DLQ_GROWTH jobs died in 10 min
 *   table_health            checkTableHealth() reports a warning: a pinned xmin horizon at
 *                           once, a dead-tuple ratio once it has held for 5 minutes
 *   schedule_failing        at least one cron schedule's last slot could not fire (its
 *                           queue is gone, its job was refused); fires at once
 */
import type { Config } from "../config/vars.ts";
import type { Db } from "../db/connect.ts";
import { type AlertName, readDbGauges } from "../obs/db_gauges.ts";
import type { Logger } from "../obs/log.ts";
import { silentLogger } from "../obs/log.ts";
import { countCallbackRefusals } from "../delivery/callback_refusals.ts";
import { sampleDepth } from "./_depth_samples.ts";
import { failingSchedules } from "../queue/schedules.ts";
import { checkTableHealth } from "./table_health.ts";
import type { Every, MaintenanceService } from "./service.ts";

export interface AlertThresholds {
  staleHeartbeatRatio: number;
  callbackFailureRatio: number;
  retrySuccessRate: number;
  successRate: number;
  depthGrowthMs: number;
  dlqGrowth: number;
  xminHorizonMs: number;
  deadTupleRatio: number;
}

export function alertThresholds(c: Config): AlertThresholds {
  return {
    staleHeartbeatRatio: c.alertStaleHeartbeatRatio,
    callbackFailureRatio: c.alertCallbackFailureRatio,
    retrySuccessRate: c.alertRetrySuccessRate,
    successRate: c.alertSuccessRate,
    depthGrowthMs: c.alertDepthGrowthMs,
    dlqGrowth: c.alertDlqGrowth,
    xminHorizonMs: c.xminHorizonWarnMs,
    deadTupleRatio: c.deadTupleRatioWarn,
  };
}

const MIN = 60_000;

interface AlertRow {
  name: string;
  subject: string;
  state: "ok" | "pending" | "firing";
  pending_since: Date | null;
  fired_at: Date | null;
  details: Record<string, unknown>;
}

const DEAD_TUPLES_FOR_MS = 5 * MIN;
const STALE_HEARTBEATS_FOR_MS = 5 * MIN;
const CALLBACK_FAILURES_FOR_MS = 10 * MIN;
const SUCCESS_RATES_FOR_MS = 30 * MIN;

interface Observation {
  name: AlertName;
  subject: string;
  /** Does the bad condition hold now? */
  holds: boolean;
  value: number | null;
  threshold: number;
  /** How long it must hold before firing. */
  forMs: number;
  details?: Record<string, unknown>;
}

export interface AlertPass {
  evaluated: number;
  firing: number;
  fired: number;
  resolved: number;
}

export async function evaluateAlerts(
  sql: Db,
  t: AlertThresholds,
  { now = null, log = silentLogger }: { now?: Date | null; log?: Logger } = {},
): Promise<AlertPass> {
  const [{ at }] = await sql<[{ at: Date }]>`SELECT coalesce(${now}::timestamptz, now()) AS at`;
  const previous = new Map(
    (await sql<AlertRow[]>`SELECT * FROM sluice.alerts`).map((
      r,
    ) => [`${r.name}\u0000${r.subject}`, r]),
  );
  const obs: Observation[] = [];

  // A pull worker's heartbeat contract is its lease (it picks its own beat and lease length),
  // so its jobs are stale once the lease passed; a process worker must also have been seen.
  const [hb] = await sql<[{ running: number; stale: number }]>`
    SELECT count(*)::int AS running, count(*) FILTER (WHERE j.lease_expires_at < ${at}
      OR (w.kind IS DISTINCT FROM 'pull' AND (w.last_seen_at IS NULL
        OR w.last_seen_at < ${at}::timestamptz - interval '30 seconds')))::int AS stale
    FROM sluice.jobs j LEFT JOIN sluice.workers w ON w.id = j.worker_id
    WHERE j.state = 'running'`;
  const staleRatio = hb.running === 0 ? 0 : hb.stale / hb.running;
  obs.push({
    name: "stale_heartbeat_ratio",
    subject: "",
    holds: hb.running > 0 && staleRatio > t.staleHeartbeatRatio,
    value: staleRatio,
    threshold: t.staleHeartbeatRatio,
    forMs: STALE_HEARTBEATS_FOR_MS,
    details: { running: hb.running, stale: hb.stale },
  });

  const [fin] = await sql<[{ ok: number; dead: number; rok: number; rall: number }]>`
    SELECT count(*) FILTER (WHERE state = 'succeeded')::int AS ok,
      count(*) FILTER (WHERE state = 'dead')::int AS dead,
      count(*) FILTER (WHERE state = 'succeeded' AND attempt > 1)::int AS rok,
      count(*) FILTER (WHERE state IN ('succeeded', 'dead') AND attempt > 1)::int AS rall
    FROM sluice.jobs
    WHERE state IN ('succeeded', 'dead', 'cancelled')
      AND finished_at > ${at}::timestamptz - interval '30 minutes' AND finished_at <= ${at}`;
  const total = fin.ok + fin.dead;
  obs.push({
    name: "success_rate",
    subject: "",
    holds: total >= 10 && fin.ok / total < t.successRate,
    value: total === 0 ? null : fin.ok / total,
    threshold: t.successRate,
    forMs: SUCCESS_RATES_FOR_MS,
    details: { succeeded: fin.ok, dead: fin.dead, window: "30m" },
  });
  obs.push({
    name: "retry_success_rate",
    subject: "",
    holds: fin.rall >= 5 && fin.rok / fin.rall < t.retrySuccessRate,
    value: fin.rall === 0 ? null : fin.rok / fin.rall,
    threshold: t.retrySuccessRate,
    forMs: SUCCESS_RATES_FOR_MS,
    details: { retried: fin.rall, succeeded: fin.rok, window: "30m" },
  });

  const cb = await callbackFailures(sql, at);
  obs.push({
    name: "callback_failure_ratio",
    subject: "",
    holds: cb.total >= 10 && cb.failed / cb.total > t.callbackFailureRatio,
    value: cb.total === 0 ? null : cb.failed / cb.total,
    threshold: t.callbackFailureRatio,
    forMs: CALLBACK_FAILURES_FOR_MS,
    details: { ...cb, window: "10m" },
  });

  const dead = await sql<{ queue: string; n: number }[]>`
    SELECT queue, count(*)::int AS n FROM sluice.jobs
    WHERE state = 'dead' AND finished_at > ${at}::timestamptz - interval '10 minutes'
      AND finished_at <= ${at}
    GROUP BY queue`;
  const gauges = await readDbGauges(sql);
  const deadBy = new Map(dead.map((d) => [d.queue, d.n]));
  const queues = new Set([...gauges.queues.keys(), ...deadBy.keys()]);
  for (const [, r] of previous) if (r.subject !== "") queues.add(r.subject);
  for (const queue of queues) {
    const n = deadBy.get(queue) ?? 0;
    obs.push({
      name: "dlq_growth",
      subject: queue,
      holds: n >= t.dlqGrowth,
      value: n,
      threshold: t.dlqGrowth,
      forMs: 0,
      details: { diedLast10m: n },
    });
    const depth = gauges.queues.get(queue)?.counts.available ?? 0;
    const prev = previous.get(`queue_depth_growing\u0000${queue}`)?.details;
    const growth = sampleDepth(prev?.samples, depth, at.getTime(), t.depthGrowthMs);
    obs.push({
      name: "queue_depth_growing",
      subject: queue,
      holds: growth.grewForMs >= t.depthGrowthMs,
      // Both in seconds: how long the depth has grown without a pause, against the window.
      value: growth.grewForMs / 1000,
      threshold: t.depthGrowthMs / 1000,
      // The window is part of the condition (the samples), so it fires once the chain is long.
      forMs: 0,
      details: { depth, startDepth: growth.startDepth, samples: growth.samples },
    });
  }

  const health = await checkTableHealth(sql, t);
  obs.push({
    name: "table_health",
    subject: "",
    holds: health.warnings.length > 0,
    value: health.deadTupleRatio,
    threshold: t.deadTupleRatio,
    // A pinned xmin horizon has already lasted SLUICE_XMIN_HORIZON_WARN: it fires at once. Dead
    // tuples must stay above the ratio for DEAD_TUPLES_FOR_MS: a burst of tens of thousands of
    // jobs/s passes 20% for a few seconds until the vacuum service catches up (bench:compare's
    // churn of 1,000,000 jobs fired it), which is not something to wake anyone for.
    forMs: health.xminPinned ? 0 : DEAD_TUPLES_FOR_MS,
    details: { warnings: health.warnings, oldestXminSeconds: health.oldestXminSeconds },
  });

  const failing = await failingSchedules(sql);
  obs.push({
    name: "schedule_failing",
    subject: "",
    holds: failing.length > 0,
    value: failing.length,
    threshold: 0,
    forMs: 0,
    details: { schedules: failing.slice(0, 20) },
  });

  const pass: AlertPass = { evaluated: obs.length, firing: 0, fired: 0, resolved: 0 };
  for (const o of obs) {
    const p = previous.get(`${o.name}\u0000${o.subject}`);
    let state = p?.state ?? "ok";
    let pendingSince = p?.pending_since ?? null;
    let firedAt = p?.fired_at ?? null;
    let event: "firing" | "resolved" | null = null;
    if (o.holds) {
      if (state === "ok") {
        state = "pending";
        pendingSince = at;
      }
      if (state === "pending" && at.getTime() - pendingSince!.getTime() >= o.forMs) {
        state = "firing";
        firedAt = at;
        event = "firing";
      }
    } else {
      if (state === "firing") event = "resolved";
      state = "ok";
      pendingSince = null;
    }
    if (state === "firing") pass.firing++;
    const fields = {
      alert: o.name,
      ...(o.subject ? { queue: o.subject } : {}),
      value: o.value,
      threshold: o.threshold,
      ...o.details,
    };
    if (event === "firing") {
      pass.fired++;
      log.warn("alert_firing", fields);
    } else if (event === "resolved") {
      pass.resolved++;
      log.info("alert_resolved", fields);
    }
    await sql`
      INSERT INTO sluice.alerts (name, subject, state, value, threshold, pending_since, fired_at,
        resolved_at, evaluated_at, details)
      VALUES (${o.name}, ${o.subject}, ${state}, ${o.value}, ${o.threshold}, ${pendingSince},
        ${firedAt}, ${event === "resolved" ? at : null}, ${at},
        ${JSON.stringify(o.details ?? {})}::text::jsonb)
      ON CONFLICT (name, subject) DO UPDATE SET state = excluded.state, value = excluded.value,
        threshold = excluded.threshold, pending_since = excluded.pending_since,
        fired_at = excluded.fired_at,
        resolved_at = coalesce(excluded.resolved_at, sluice.alerts.resolved_at),
        evaluated_at = excluded.evaluated_at, details = excluded.details`;
    if (event) {
      await sql`
        INSERT INTO sluice.alert_events (name, subject, event, value, threshold, at)
        VALUES (${o.name}, ${o.subject}, ${event}, ${o.value}, ${o.threshold}, ${at})`;
    }
  }
  return pass;
}

/**
 * Callbacks that reported a failed job, plus refused callbacks (bad signature, timestamp out of
 * tolerance, stale lease, replayed event: src/delivery/callback_refusals.ts), over all callbacks
 * received in the last 10 minutes (the reference runbooks' "failed events / total events").
 */
async function callbackFailures(
  sql: Db,
  at: Date,
): Promise<{ failed: number; refused: number; total: number }> {
  const [r] = await sql<[{ failed: number; total: number }]>`
    SELECT count(*) FILTER (WHERE status = 'failed')::int AS failed, count(*)::int AS total
    FROM sluice.callback_events
    WHERE received_at > ${at}::timestamptz - interval '10 minutes' AND received_at <= ${at}`;
  const refused = await countCallbackRefusals(sql, new Date(at.getTime() - 10 * MIN), at);
  return { failed: r.failed + refused, refused, total: r.total + refused };
}

export interface AlertRecord {
  name: string;
  subject: string;
  state: "ok" | "pending" | "firing";
  value: number | null;
  threshold: number | null;
  pendingSince: string | null;
  firedAt: string | null;
  resolvedAt: string | null;
  evaluatedAt: string;
  details: Record<string, unknown>;
}

export interface AlertEventRecord {
  name: string;
  subject: string;
  event: "firing" | "resolved";
  value: number | null;
  threshold: number | null;
  at: string;
}

/** `GET /v1/ops/alerts`: alerts firing or pending now, and firings/resolutions of the last day. */
export async function opsAlerts(
  sql: Db,
  { recentMs = 86_400_000, limit = 200 }: { recentMs?: number; limit?: number } = {},
): Promise<{ firing: AlertRecord[]; pending: AlertRecord[]; recent: AlertEventRecord[] }> {
  const rows = await sql<
    (Omit<AlertRow, "state"> & {
      state: AlertRecord["state"];
      value: number | null;
      threshold: number | null;
      resolved_at: Date | null;
      evaluated_at: Date;
    })[]
  >`SELECT * FROM sluice.alerts WHERE state <> 'ok' ORDER BY fired_at DESC NULLS LAST, name, subject`;
  const events = await sql<
    {
      name: string;
      subject: string;
      event: "firing" | "resolved";
      value: number | null;
      threshold: number | null;
      at: Date;
    }[]
  >`
    SELECT name, subject, event, value, threshold, at FROM sluice.alert_events
    WHERE at > now() - ${recentMs} * interval '1 millisecond'
    ORDER BY at DESC, id DESC LIMIT ${limit}`;
  const toRecord = (r: (typeof rows)[number]): AlertRecord => ({
    name: r.name,
    subject: r.subject,
    state: r.state,
    value: r.value,
    threshold: r.threshold,
    pendingSince: r.pending_since?.toISOString() ?? null,
    firedAt: r.fired_at?.toISOString() ?? null,
    resolvedAt: r.resolved_at?.toISOString() ?? null,
    evaluatedAt: r.evaluated_at.toISOString(),
    details: r.details,
  });
  return {
    firing: rows.filter((r) => r.state === "firing").map(toRecord),
    pending: rows.filter((r) => r.state === "pending").map(toRecord),
    recent: events.map((e) => ({ ...e, at: e.at.toISOString() })),
  };
}

/** The alerts service: one evaluation of every alert per pass. */
export function alerts(
  { everyMs, thresholds }: Every & { thresholds: AlertThresholds },
): MaintenanceService {
  return {
    name: "alerts",
    everyMs,
    run: async (sql, { now, log }) => ({ ...await evaluateAlerts(sql, thresholds, { now, log }) }),
    // Info only on a transition (fired, resolved); steady state every pass is debug noise.
    state: ["evaluated", "firing"],
  };
}
