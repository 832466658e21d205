import type { Sql } from "../db/connect.ts";
import { heldForPrefetch } from "./prefetch_lease.ts";

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** Queue names, or ["*"] for every queue. */
  queues: string[];
  concurrency: number;
  version: string;
  metricsAddr: string | null;
}

export interface WorkerRecord extends WorkerInfo {
  startedAt: string;
  lastSeenAt: string;
  stoppedAt: string | null;
  state: "online" | "stale" | "stopped";
  runningJobIds: string[];
  /** Leased into the worker's prefetch buffer, not started (src/queue/prefetch_lease.ts). */
  heldJobIds: string[];
}

/** A worker that has not been seen for this long is considered gone. */
export const WORKER_STALE_AFTER_MS = 60_000;

export async function registerWorker(sql: Sql, w: WorkerInfo): Promise<void> {
  await sql`
    INSERT INTO sluice.workers (id, host, pid, queues, concurrency, version, metrics_addr)
    VALUES (${w.id}, ${w.host}, ${w.pid}, ${w.queues}, ${w.concurrency}, ${w.version}, ${w.metricsAddr})
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
      queues = excluded.queues, concurrency = excluded.concurrency, version = excluded.version,
      metrics_addr = excluded.metrics_addr, started_at = now(), last_seen_at = now(),
      stopped_at = NULL`;
}

export async function touchWorker(sql: Sql, id: string): Promise<void> {
  await sql`UPDATE sluice.workers SET last_seen_at = now() WHERE id = ${id}`;
}

export async function stopWorker(sql: Sql, id: string): Promise<void> {
  await sql`UPDATE sluice.workers SET stopped_at = now(), last_seen_at = now() WHERE id = ${id}`;
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  version: string;
  metrics_addr: string | null;
  started_at: Date;
  last_seen_at: Date;
  stopped_at: Date | null;
  stale: boolean;
  running: string[] | null;
  held: string[] | null;
}

/** Workers seen within `sinceMs` (default a day), with the jobs each one is running now. */
export async function listWorkers(
  sql: Sql,
  { sinceMs = 86_400_000 }: { sinceMs?: number } = {},
): Promise<WorkerRecord[]> {
  const rows = await sql<WorkerRow[]>`
    SELECT w.*, w.last_seen_at < now() - ${WORKER_STALE_AFTER_MS} * interval '1 millisecond' AS stale,
      r.running, r.held
    FROM sluice.workers w
    LEFT JOIN LATERAL (
      SELECT array_agg(j.id::text ORDER BY j.id) FILTER (WHERE (${
    heldForPrefetch(sql)
  }) IS NOT TRUE)
          AS running,
        array_agg(j.id::text ORDER BY j.id) FILTER (WHERE (${heldForPrefetch(sql)}) IS TRUE) AS held
      FROM sluice.jobs j WHERE j.state = 'running' AND j.worker_id = w.id
    ) r ON true
    WHERE w.last_seen_at > now() - ${sinceMs} * interval '1 millisecond'
    ORDER BY w.stopped_at IS NOT NULL, w.started_at DESC`;
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    queues: r.queues,
    concurrency: r.concurrency,
    version: r.version,
    metricsAddr: r.metrics_addr,
    startedAt: r.started_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
    stoppedAt: r.stopped_at?.toISOString() ?? null,
    state: r.stopped_at ? "stopped" : r.stale ? "stale" : "online",
    runningJobIds: r.running ?? [],
    heldJobIds: r.held ?? [],
  }));
}
