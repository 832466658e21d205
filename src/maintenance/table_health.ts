import type { Db } from "../db/connect.ts";
import type { Every, MaintenanceService } from "./service.ts";

export interface TableHealth {
  /** Age of the oldest open transaction/snapshot in this database holding back vacuum. */
  oldestXminSeconds: number | null;
  /** The same in transaction ids (`age(backend_xmin)`). */
  oldestXminAge: number | null;
  oldestXminPid: number | null;
  liveTuples: number;
  deadTuples: number;
  /** dead / (live + dead) of sluice.jobs; 0 below 1,000 tuples (too small to matter). */
  deadTupleRatio: number;
  lastAutovacuum: string | null;
  /** A transaction has held back vacuum longer than the xmin threshold. */
  xminPinned: boolean;
  warnings: string[];
}

/**
 * The classic silent killer of PostgreSQL queues: a forgotten open transaction (or an idle
 * `BEGIN` in a pool) pins the xmin horizon, vacuum cannot remove the dead tuples every lease and
 * completion leaves behind, and the hot indexes bloat until leasing crawls. This reads both
 * symptoms — the oldest xmin holder in this database and the jobs table's dead-tuple ratio — and
 * says which passed its threshold. Used by the `table_health` service (log), the alert
 * evaluator (`table_health` alert) and `/health` details.
 */
export async function checkTableHealth(
  sql: Db,
  { xminHorizonMs, deadTupleRatio }: { xminHorizonMs: number; deadTupleRatio: number },
): Promise<TableHealth> {
  const [r] = await sql<
    [{
      xmin_seconds: number | null;
      xmin_age: number | null;
      xmin_pid: number | null;
      live: string | null;
      dead: string | null;
      autovacuum: Date | null;
    }]
  >`
    WITH holder AS (
      SELECT pid, extract(epoch FROM now() - coalesce(xact_start, query_start))::float8 AS secs,
        age(backend_xmin)::int AS xids
      FROM pg_stat_activity
      WHERE backend_xmin IS NOT NULL AND datname = current_database()
        AND pid <> pg_backend_pid()
      ORDER BY age(backend_xmin) DESC, xact_start
      LIMIT 1
    )
    SELECT (SELECT secs FROM holder) AS xmin_seconds, (SELECT xids FROM holder) AS xmin_age,
      (SELECT pid FROM holder) AS xmin_pid,
      s.n_live_tup AS live, s.n_dead_tup AS dead,
      greatest(s.last_autovacuum, s.last_vacuum) AS autovacuum
    FROM (SELECT 1) one
    LEFT JOIN pg_stat_user_tables s ON s.relid = 'sluice.jobs'::regclass`;
  const live = Number(r.live ?? 0), dead = Number(r.dead ?? 0);
  const ratio = live + dead < 1_000 ? 0 : dead / (live + dead);
  const warnings: string[] = [];
  let xminPinned = false;
  if (r.xmin_seconds !== null && r.xmin_seconds * 1000 > xminHorizonMs) {
    xminPinned = true;
    warnings.push(
      `a transaction (pid ${r.xmin_pid}) has held back vacuum for ${
        Math.round(r.xmin_seconds)
      } s (${r.xmin_age} transactions)`,
    );
  }
  if (ratio > deadTupleRatio) {
    warnings.push(
      `${(ratio * 100).toFixed(1)}% of sluice.jobs tuples are dead (${dead} of ${live + dead})`,
    );
  }
  return {
    oldestXminSeconds: r.xmin_seconds,
    oldestXminAge: r.xmin_age,
    oldestXminPid: r.xmin_pid,
    liveTuples: live,
    deadTuples: dead,
    deadTupleRatio: ratio,
    lastAutovacuum: r.autovacuum?.toISOString() ?? null,
    xminPinned,
    warnings,
  };
}

/** The table_health service: logs `table_health_warning` for each threshold passed. */
export function tableHealth(
  { everyMs, ...thresholds }: Every & { xminHorizonMs: number; deadTupleRatio: number },
): MaintenanceService {
  return {
    name: "table_health",
    everyMs,
    run: async (sql, { log }) => {
      const h = await checkTableHealth(sql, thresholds);
      for (const w of h.warnings) {
        log.warn("table_health_warning", {
          detail: w,
          oldest_xmin_seconds: h.oldestXminSeconds,
          dead_tuple_ratio: Number(h.deadTupleRatio.toFixed(4)),
        });
      }
      return { warnings: h.warnings.length };
    },
  };
}
