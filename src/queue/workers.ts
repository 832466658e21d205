import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { heldForPrefetch } from "./prefetch_lease.ts";

/**
 * `process`: a `sluice worker` (or `sluice up`) serving inline, exec and http queues; `pull`: an
 * external program leasing a pull queue over HTTP, recorded by `pullWorkerSightings()`.
 */
export type WorkerKind = "process" | "pull";

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
  kind: WorkerKind;
  startedAt: string;
  lastSeenAt: string;
  stoppedAt: string | null;
  /** When an operator asked it to quiet down (it then stops once its jobs are done). */
  quietRequestedAt: string | null;
  state: "online" | "stale" | "stopped";
  runningJobIds: string[];
  /** Leased into the worker's prefetch buffer, not started (src/queue/prefetch_lease.ts). */
  heldJobIds: string[];
  /** Why an online worker looks stuck, or null (see stallOf). */
  stalled: string | null;
}

/**
 * A worker that holds more jobs in its buffer than it executes, some of them for longer than
 * HELD_STUCK_AFTER_MS, is not starting them (seen: 574 jobs parked in one buffer while
 * "waiting/running" looked normal). A freshly leased or just started job also reads as held
 * until its first renewal, so holding alone is normal.
 * One running more than its concurrency has lost track of its attempts.
 */
export function stallOf(
  w: Pick<WorkerRecord, "kind" | "state" | "concurrency" | "runningJobIds" | "heldJobIds"> & {
    /** Held jobs leased more than HELD_STUCK_AFTER_MS ago (they should have started). */
    heldOverdue: number;
  },
): string | null {
  if (w.state !== "online") return null;
  const running = w.runningJobIds.length, held = w.heldJobIds.length;
  // A pull worker's "concurrency" is the largest batch it asked for, not a limit it keeps.
  if (w.kind === "process" && running > w.concurrency) {
    return `runs ${running} jobs with concurrency ${w.concurrency}`;
  }
  if (w.heldOverdue > 0 && held > running) {
    return `holds ${held} jobs it has not started (${w.heldOverdue} for over ${
      HELD_STUCK_AFTER_MS / 1000
    } s) while it runs ${running}`;
  }
  return null;
}

/**
 * A held job leased longer ago than this is stuck in its worker's buffer: a worker starts a
 * held job or gives it back within PREFETCH_START_WITHIN_MS (1 s, src/worker/prefetch.ts), and
 * one that ran past PREFETCH_FAST_MS is renewed off the held mark. Before the reaper takes it
 * back (PREFETCH_LEASE_MS, 4.5 s) it is waiting on a worker that does not start it.
 */
export const HELD_STUCK_AFTER_MS = 2_000;

/** A worker that has not been seen for this long is considered gone. */
export const WORKER_STALE_AFTER_MS = 60_000;

export async function registerWorker(sql: Db, w: WorkerInfo): Promise<void> {
  await sql`
    INSERT INTO sluice.workers (id, host, pid, queues, concurrency, version, metrics_addr)
    VALUES (${w.id}, ${w.host}, ${w.pid}, ${w.queues}, ${w.concurrency}, ${w.version}, ${w.metricsAddr})
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
      queues = excluded.queues, concurrency = excluded.concurrency, version = excluded.version,
      metrics_addr = excluded.metrics_addr, started_at = now(), last_seen_at = now(),
      stopped_at = NULL, kind = 'process', quiet_requested_at = NULL`;
}

/** Records a heartbeat; `quiet` is true once an operator asked this worker to quiet down. */
export async function touchWorker(sql: Db, id: string): Promise<{ quiet: boolean }> {
  const [row] = await sql<{ quiet: boolean }[]>`
    UPDATE sluice.workers SET last_seen_at = now() WHERE id = ${id}
    RETURNING quiet_requested_at IS NOT NULL AS quiet`;
  return { quiet: row?.quiet ?? false };
}

/**
 * Asks a running process worker to lease no more and stop once its running jobs are done (it
 * reads this on its next heartbeat, a third of its lease). Pull workers are external programs:
 * nothing of theirs reads the flag, so they are refused rather than silently ignored.
 */
export async function requestWorkerQuiet(sql: Db, id: string): Promise<WorkerRecord> {
  const [row] = await sql<{ kind: WorkerKind; stopped: boolean }[]>`
    UPDATE sluice.workers SET quiet_requested_at = coalesce(quiet_requested_at, now())
    WHERE id = ${id} AND kind = 'process' AND stopped_at IS NULL
    RETURNING kind, stopped_at IS NOT NULL AS stopped`;
  if (!row) {
    const [w] = await sql<{ kind: WorkerKind; stopped: boolean }[]>`
      SELECT kind, stopped_at IS NOT NULL AS stopped FROM sluice.workers WHERE id = ${id}`;
    if (!w) throw new SluiceError("NOT_FOUND", `no worker has the id '${id}'`, { workerId: id });
    throw new SluiceError(
      "CONFLICT",
      w.stopped
        ? `worker '${id}' has stopped already`
        : `worker '${id}' is a pull worker: stop the program that leases`,
      { workerId: id, kind: w.kind },
    );
  }
  return (await listWorkers(sql)).find((w) => w.id === id)!;
}

export async function stopWorker(sql: Db, id: string): Promise<void> {
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
  kind: WorkerKind;
  started_at: Date;
  last_seen_at: Date;
  stopped_at: Date | null;
  quiet_requested_at: Date | null;
  stale: boolean;
  running: string[] | null;
  held: string[] | null;
  held_overdue: number | null;
}

/** Workers seen within `sinceMs` (default a day), with the jobs each one is running now. */
export async function listWorkers(
  sql: Db,
  { sinceMs = 86_400_000 }: { sinceMs?: number } = {},
): Promise<WorkerRecord[]> {
  const rows = await sql<WorkerRow[]>`
    SELECT w.*, w.last_seen_at < now() - ${WORKER_STALE_AFTER_MS} * interval '1 millisecond' AS stale,
      r.running, r.held, r.held_overdue
    FROM sluice.workers w
    LEFT JOIN LATERAL (
      SELECT array_agg(j.id::text ORDER BY j.id) FILTER (WHERE (${
    heldForPrefetch(sql)
  }) IS NOT TRUE)
          AS running,
        array_agg(j.id::text ORDER BY j.id) FILTER (WHERE (${
    heldForPrefetch(sql)
  }) IS TRUE) AS held,
        count(*) FILTER (WHERE (${
    heldForPrefetch(sql)
  }) IS TRUE AND j.leased_at < now() - ${HELD_STUCK_AFTER_MS} * interval '1 millisecond')::int
          AS held_overdue
      FROM sluice.jobs j WHERE j.state = 'running' AND j.worker_id = w.id
    ) r ON true
    WHERE w.last_seen_at > now() - ${sinceMs} * interval '1 millisecond'
    ORDER BY w.stopped_at IS NOT NULL, w.started_at DESC`;
  return rows.map((r): Omit<WorkerRecord, "stalled"> & { heldOverdue: number } => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    queues: r.queues,
    concurrency: r.concurrency,
    version: r.version,
    metricsAddr: r.metrics_addr,
    kind: r.kind,
    startedAt: r.started_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
    stoppedAt: r.stopped_at?.toISOString() ?? null,
    quietRequestedAt: r.quiet_requested_at?.toISOString() ?? null,
    state: stateOf(r),
    runningJobIds: r.running ?? [],
    heldJobIds: r.held ?? [],
    heldOverdue: r.held_overdue ?? 0,
  })).map(({ heldOverdue, ...w }) => ({ ...w, stalled: stallOf({ ...w, heldOverdue }) }));
}

/**
 * A pull worker never says goodbye: once unseen for WORKER_STALE_AFTER_MS it is stale only while
 * it still holds running jobs (it died holding leases), otherwise it is simply gone (stopped).
 */
function stateOf(r: WorkerRow): WorkerRecord["state"] {
  if (r.stopped_at) return "stopped";
  if (!r.stale) return "online";
  return r.kind === "pull" && (r.running ?? []).length === 0 ? "stopped" : "stale";
}

/** Writes of one pull worker's row are at most this frequent (per worker, in the database). */
const PULL_SEEN_EVERY_MS = 1_000;

export interface PullWorkerSightings {
  /** A lease call by `id` on `queue`, from `host` (the client address), `version` its user agent. */
  leased(
    w: { id: string; queue: string; host: string; version: string; max: number },
  ): Promise<void>;
  /** A heartbeat for job `jobId`: the worker holding it was seen. */
  heartbeat(jobId: string): Promise<void>;
}

/**
 * Pull workers as `sluice.workers` rows (kind 'pull'), so they are listed with their last
 * heartbeat and the stale-heartbeat alert finds them. Each api request writes at most one row
 * once a second: the in-process map skips the statement for a worker seen within the second,
 * and the `last_seen_at` guard skips the write when another api process just did it.
 */
export function pullWorkerSightings(sql: Db): PullWorkerSightings {
  const recent = new Map<string, number>();
  const due = (key: string): boolean => {
    const now = Date.now();
    if (now - (recent.get(key) ?? -Infinity) < PULL_SEEN_EVERY_MS) return false;
    if (recent.size >= 10_000) recent.clear(); // a bound, not a cache policy: worst case one write more
    recent.set(key, now);
    return true;
  };
  return {
    async leased(w) {
      if (!due(`lease\u0000${w.id}\u0000${w.queue}`)) return;
      await sql`
        INSERT INTO sluice.workers (id, kind, host, pid, queues, concurrency, version)
        VALUES (${w.id}, 'pull', ${w.host}, 0, ${[w.queue]}, ${w.max}, ${w.version})
        ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), host = excluded.host,
          version = excluded.version, stopped_at = NULL,
          concurrency = greatest(sluice.workers.concurrency, excluded.concurrency),
          queues = CASE WHEN ${w.queue} = ANY(sluice.workers.queues) THEN sluice.workers.queues
            ELSE array_append(sluice.workers.queues, ${w.queue}) END
        WHERE sluice.workers.kind = 'pull' AND (NOT ${w.queue} = ANY(sluice.workers.queues)
          OR sluice.workers.last_seen_at < now() - ${PULL_SEEN_EVERY_MS} * interval '1 millisecond')`;
    },
    async heartbeat(jobId) {
      if (!due(`job\u0000${jobId}`)) return;
      await sql`
        UPDATE sluice.workers w SET last_seen_at = now()
        FROM sluice.jobs j
        WHERE j.id = ${jobId} AND w.id = j.worker_id AND w.kind = 'pull'
          AND w.last_seen_at < now() - ${PULL_SEEN_EVERY_MS} * interval '1 millisecond'`;
    },
  };
}
