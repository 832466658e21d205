/**
 * Triage views as plain functions for the api to mount: `opsQueuesSnapshot` answers
 * `GET /v1/ops/queues`; `opsAlerts` (src/maintenance/alerts.ts) answers `GET /v1/ops/alerts`.
 *
 * Status rules, with one plain reason per finding:
 *   offline   no worker is online (nothing will run)
 *   degraded  no live maintenance leader; an alert firing; a queue with available jobs that no
 *             online worker serves; stale workers; overdue schedules; http delivery without
 *             signing secrets
 *   online    none of the above
 */
import type { Db } from "../db/connect.ts";
import { getLeader } from "../maintenance/leader.ts";
import type { StateCounts } from "../queue/inspect.ts";
import {
  BUILTIN_DEFAULTS,
  type EffectivePolicy,
  type EngineDefaults,
  listQueues,
  type Queue,
} from "../queue/queues.ts";
import { schedulerHealth } from "../queue/schedules.ts";
import { listWorkers, type WorkerRecord } from "../queue/workers.ts";
import { readDbGauges } from "../obs/db_gauges.ts";

export type OpsStatus = "online" | "degraded" | "offline";

export interface OpsQueue {
  name: string;
  paused: boolean;
  counts: StateCounts;
  oldestWaitingSeconds: number | null;
  throughput: { "1m": number; "5m": number; "15m": number };
  failures: { "1m": number; "5m": number; "15m": number };
  rates: OpsRates;
  /** Online workers leasing from this queue. */
  workers: number;
  policy: EffectivePolicy;
}

/** The overview's headline numbers, over the last 5 minutes. */
export interface OpsRates {
  jobsPerMinute: number;
  /** Dead of finished (succeeded + dead), in percent; null with nothing finished. */
  failurePercent: number | null;
  /** 95th percentile of due → started, in ms; null with nothing started. */
  p95WaitMs: number | null;
}

function ratesOf(r: { ok5: number; f5: number; wait95: number | null } | undefined): OpsRates {
  const ok = r?.ok5 ?? 0, dead = r?.f5 ?? 0;
  return {
    jobsPerMinute: Math.round(((ok + dead) / 5) * 10) / 10,
    failurePercent: ok + dead === 0 ? null : Math.round((dead / (ok + dead)) * 1000) / 10,
    p95WaitMs: r?.wait95 == null ? null : Math.max(0, Math.round(Number(r.wait95) * 1000)),
  };
}

export interface OpsQueuesSnapshot {
  status: OpsStatus;
  reasons: string[];
  at: string;
  queues: OpsQueue[];
  /** Every queue together. */
  totals: OpsRates;
  workers: Pick<
    WorkerRecord,
    | "id"
    | "kind"
    | "host"
    | "state"
    | "queues"
    | "concurrency"
    | "runningJobIds"
    | "heldJobIds"
    | "stalled"
    | "lastSeenAt"
    | "version"
  >[];
  scheduler: { schedules: number; paused: number; nextFireAt: string | null; overdue: number };
  maintenance: {
    leader: { holder: string; term: number; expiresAt: string; live: boolean } | null;
    services: {
      service: string;
      lastRunAt: string;
      durationMs: number;
      counts: unknown;
      error: string | null;
    }[];
  };
  signing: { configured: boolean; count: number };
  alertsFiring: string[];
}

export async function opsQueuesSnapshot(
  sql: Db,
  { defaults = BUILTIN_DEFAULTS, signingSecrets = 0 }: {
    defaults?: EngineDefaults;
    /** How many signing secrets are configured (config.signingSecrets.length), never the secrets. */
    signingSecrets?: number;
  } = {},
): Promise<OpsQueuesSnapshot> {
  const [queues, gauges, workers, scheduler, leader, passes, rates] = await Promise.all([
    listQueues(sql, defaults),
    readDbGauges(sql),
    listWorkers(sql),
    schedulerHealth(sql),
    getLeader(sql),
    sql<
      {
        service: string;
        last_run_at: Date;
        duration_ms: number;
        counts: unknown;
        error: string | null;
      }[]
    >`
      SELECT service, last_run_at, duration_ms, counts, error FROM sluice.maintenance_passes
      ORDER BY service`,
    sql<
      {
        queue: string;
        ok1: number;
        ok5: number;
        ok15: number;
        f1: number;
        f5: number;
        f15: number;
        wait95: number | null;
      }[]
    >`
      SELECT queue,
        -- Wait: from due (run_at) to start, of jobs that finished in the last 5 minutes.
        percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - run_at))
          FILTER (WHERE finished_at > now() - interval '5 minutes' AND started_at IS NOT NULL)
          AS wait95,
        count(*) FILTER (WHERE state = 'succeeded' AND finished_at > now() - interval '1 minute')::int AS ok1,
        count(*) FILTER (WHERE state = 'succeeded' AND finished_at > now() - interval '5 minutes')::int AS ok5,
        count(*) FILTER (WHERE state = 'succeeded')::int AS ok15,
        count(*) FILTER (WHERE state = 'dead' AND finished_at > now() - interval '1 minute')::int AS f1,
        count(*) FILTER (WHERE state = 'dead' AND finished_at > now() - interval '5 minutes')::int AS f5,
        count(*) FILTER (WHERE state = 'dead')::int AS f15
      FROM sluice.jobs
      WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at > now() - interval '15 minutes'
      -- () is every queue together: a p95 cannot be summed from the queues' p95s.
      GROUP BY GROUPING SETS ((queue), ())`,
  ]);
  const rateBy = new Map(rates.filter((r) => r.queue !== null).map((r) => [r.queue, r]));
  const all = rates.find((r) => r.queue === null);
  const online = workers.filter((w) => w.state === "online");
  // Only workers of the kind the queue's delivery needs: `sluice worker` never leases a pull
  // queue, and a pull worker only the pull queues it asked for.
  const serves = (w: WorkerRecord, q: Queue) =>
    (w.kind === "pull") === (q.effective.delivery.mode === "pull") &&
    (w.queues.includes("*") || w.queues.includes(q.name));
  const reasons: string[] = [];
  const out: OpsQueue[] = queues.map((q) => {
    const g = gauges.queues.get(q.name);
    const r = rateBy.get(q.name);
    const servedBy = online.filter((w) => serves(w, q)).length;
    const counts = g?.counts ??
      {
        blocked: 0,
        scheduled: 0,
        available: 0,
        running: 0,
        retrying: 0,
        succeeded: 0,
        dead: 0,
        cancelled: 0,
      };
    if (
      counts.available > 0 && servedBy === 0 && !q.paused && online.length > 0 &&
      q.effective.delivery.mode !== "pull"
    ) {
      reasons.push(
        `queue '${q.name}' has ${counts.available} available jobs and no online worker serves it`,
      );
    }
    return {
      name: q.name,
      paused: q.paused,
      counts,
      oldestWaitingSeconds: g?.oldestAvailableSeconds ?? null,
      throughput: { "1m": r?.ok1 ?? 0, "5m": r?.ok5 ?? 0, "15m": r?.ok15 ?? 0 },
      failures: { "1m": r?.f1 ?? 0, "5m": r?.f5 ?? 0, "15m": r?.f15 ?? 0 },
      rates: ratesOf(r),
      workers: servedBy,
      policy: q.effective,
    };
  });
  let status: OpsStatus = "online";
  if (online.length === 0) {
    status = "offline";
    reasons.unshift("no worker is online");
  }
  if (!leader?.live) {
    reasons.push(
      "no live maintenance leader: expired leases are not reaped and schedules do not fire",
    );
  }
  const alertsFiring = [...gauges.alerts].filter(([, on]) => on).map(([a]) => a);
  for (const a of alertsFiring) reasons.push(`alert '${a}' is firing`);
  for (const w of workers) if (w.stalled) reasons.push(`worker ${w.id} ${w.stalled}`);
  const stale = workers.filter((w) => w.state === "stale");
  if (stale.length > 0) {
    reasons.push(
      `${stale.length} worker(s) stopped heartbeating: ${stale.map((w) => w.id).join(", ")}`,
    );
  }
  if (scheduler.overdue > 0) reasons.push(`${scheduler.overdue} schedule(s) are overdue`);
  const httpQueues = queues.filter((q) => q.effective.delivery.mode === "http");
  if (httpQueues.length > 0 && signingSecrets === 0) {
    reasons.push("http delivery is configured but SLUICE_SIGNING_SECRETS is empty");
  }
  if (status === "online" && reasons.length > 0) status = "degraded";
  return {
    status,
    reasons,
    at: gauges.at.toISOString(),
    queues: out,
    totals: ratesOf(all),
    workers: workers.map((w) => ({
      id: w.id,
      kind: w.kind,
      host: w.host,
      state: w.state,
      queues: w.queues,
      concurrency: w.concurrency,
      runningJobIds: w.runningJobIds,
      heldJobIds: w.heldJobIds,
      stalled: w.stalled,
      lastSeenAt: w.lastSeenAt,
      version: w.version,
    })),
    scheduler,
    maintenance: {
      leader: leader
        ? {
          holder: leader.holder,
          term: leader.term,
          expiresAt: leader.expiresAt.toISOString(),
          live: leader.live,
        }
        : null,
      services: passes.map((p) => ({
        service: p.service,
        lastRunAt: p.last_run_at.toISOString(),
        durationMs: p.duration_ms,
        counts: p.counts,
        error: p.error,
      })),
    },
    signing: { configured: signingSecrets > 0, count: signingSecrets },
    alertsFiring,
  };
}

export { opsAlerts } from "../maintenance/alerts.ts";
