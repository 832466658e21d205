import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * Vacuums sluice.jobs when dead tuples pile up faster than autovacuum comes round.
 *
 * Why (issue #8): every job leaves two dead row versions (its lease and its completion), so at
 * tens of thousands of jobs/s a million dead tuples build up between two autovacuum visits
 * (autovacuum_naptime, 1 min by default and server-wide, so a table setting cannot shorten it).
 * Until vacuum removes them, the lease walks their entries in jobs_available_idx and new row
 * versions cannot reuse space. Measured (2 cores, fsync on, scratch run of the bench churn): after
 * churning 1,000,000 jobs with 2,000,000 dead tuples left, 20,000 no-op jobs ran at 26,700 jobs/s;
 * after a 3 s `VACUUM sluice.jobs`, at 57,400.
 *
 * The vacuum runs in the background (a pass never waits for it, so the reaper keeps its pace), at
 * most one at a time per process, and with SKIP_LOCKED so it steps aside when autovacuum is
 * already on the table.
 */
export interface HotVacuumOptions {
  /** Vacuum once this many tuples are dead… */
  minDead: number;
  /** …and they are at least this share of the live ones. */
  deadPerLive: number;
}

export const HOT_VACUUM_DEFAULTS: HotVacuumOptions = { minDead: 100_000, deadPerLive: 0.2 };

export interface HotVacuum {
  run(sql: Sql, log: Logger): Promise<Record<string, number>>;
  /** The vacuum under way, if any (tests and shutdown wait for it). */
  settled(): Promise<void>;
}

export function hotTableVacuum(opts: HotVacuumOptions = HOT_VACUUM_DEFAULTS): HotVacuum {
  let inFlight: Promise<void> | null = null;
  return {
    settled: () => inFlight ?? Promise.resolve(),
    async run(sql, log) {
      if (inFlight) return { started: 0, running: 1 };
      const [s] = await sql<[{ dead: number; live: number }?]>`
        SELECT n_dead_tup::float8 AS dead, n_live_tup::float8 AS live
        FROM pg_stat_user_tables WHERE relid = 'sluice.jobs'::regclass`;
      if (!s || s.dead < Math.max(opts.minDead, opts.deadPerLive * s.live)) {
        return { started: 0, running: 0 };
      }
      const t0 = performance.now();
      inFlight = (async () => {
        try {
          await sql`VACUUM (SKIP_LOCKED) sluice.jobs`;
          log.info("jobs_vacuumed", {
            dead_tuples: s.dead,
            live_tuples: s.live,
            duration_ms: Math.round(performance.now() - t0),
          });
        } catch (e) {
          log.error("jobs_vacuum_failed", { error: e, dead_tuples: s.dead });
        } finally {
          inFlight = null;
        }
      })();
      return { started: 1, running: 1 };
    },
  };
}

/** The vacuum service: checks every pass, vacuums in the background (see hotTableVacuum). */
export function vacuum({ everyMs }: Every): MaintenanceService {
  const v = hotTableVacuum();
  return { name: "vacuum", everyMs, run: (sql, { log }) => v.run(sql, log), settled: v.settled };
}
