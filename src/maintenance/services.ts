/**
 * The maintenance services, in the order a pass runs them. Each is one verb from its own file;
 * this list adapts them to the loop (counts for the `maintenance_pass` line) and applies
 * configuration: SLUICE_MAINTENANCE_DISABLE drops services by name, and a service whose
 * setting is off (SLUICE_SCRUB_PAYLOADS_AFTER=off) is not listed.
 */
import type { Config } from "../config/vars.ts";
import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { promoteDueJobs } from "../queue/promote.ts";
import { reapExpiredLeases } from "../queue/rescue.ts";
import { fireDueSchedules } from "../queue/schedules.ts";
import { engineDefaults } from "../queue/queues.ts";
import { alertThresholds, evaluateAlerts } from "./alerts.ts";
import { archiveSucceededJobs } from "./archiver.ts";
import { countFinishedJobs } from "./counter.ts";
import { pruneHistory } from "./pruner.ts";
import { scrubPayloads } from "./scrubber.ts";
import { checkTableHealth } from "./table_health.ts";
import { hotTableVacuum } from "./vacuum.ts";

export interface ServiceContext {
  log: Logger;
  /** Injected clock for tests; null = PostgreSQL's now(). */
  now: Date | null;
}

/** One maintenance service: its name and a pass returning counts for the log line. */
export interface MaintenanceService {
  name: string;
  run(sql: Sql, ctx: ServiceContext): Promise<Record<string, number>>;
  /**
   * Counts that describe standing state rather than work done (alerts evaluated or firing): a
   * pass where only these are non-zero changed nothing, so its line is logged at debug.
   */
  state?: readonly string[];
  /** Resolves when work the service left running in the background is done. */
  settled?(): Promise<void>;
}

export function maintenanceServices(config: Config): MaintenanceService[] {
  const defaults = engineDefaults(config);
  const vacuum = hotTableVacuum();
  const all: (MaintenanceService | null)[] = [
    { name: "reaper", run: (sql, { now }) => reapExpiredLeases(sql, { now }) },
    { name: "promoter", run: (sql, { now }) => promoteDueJobs(sql, { now }) },
    {
      name: "scheduler",
      run: async (sql, { now }) => ({ ...await fireDueSchedules(sql, { now, defaults }) }),
    },
    {
      name: "archiver",
      run: (sql, { now }) =>
        archiveSucceededJobs(sql, { olderThanMs: config.archiveSucceededAfterMs, now }),
    },
    {
      name: "pruner",
      run: (sql, { now }) => pruneHistory(sql, { olderThanMs: config.pruneHistoryAfterMs, now }),
    },
    config.scrubPayloadsAfterMs === null ? null : {
      name: "scrubber",
      run: async (sql, { now, log }) => {
        const r = await scrubPayloads(sql, { olderThanMs: config.scrubPayloadsAfterMs!, now });
        if (r.scrubbed > 0) log.info("scrubbed_payloads", { count: r.scrubbed });
        return r;
      },
    },
    { name: "counter", run: (sql, { now }) => countFinishedJobs(sql, { now }) },
    {
      name: "alerts",
      run: async (sql, { now, log }) => ({
        ...await evaluateAlerts(sql, alertThresholds(config), { now, log }),
      }),
      // Info only on a transition (fired, resolved); steady state every pass is debug noise.
      state: ["evaluated", "firing"],
    },
    { name: "vacuum", run: (sql, { log }) => vacuum.run(sql, log), settled: vacuum.settled },
    {
      name: "table_health",
      run: async (sql, { log }) => {
        const h = await checkTableHealth(sql, {
          xminHorizonMs: config.xminHorizonWarnMs,
          deadTupleRatio: config.deadTupleRatioWarn,
        });
        for (const w of h.warnings) {
          log.warn("table_health_warning", {
            detail: w,
            oldest_xmin_seconds: h.oldestXminSeconds,
            dead_tuple_ratio: Number(h.deadTupleRatio.toFixed(4)),
          });
        }
        return { warnings: h.warnings.length };
      },
    },
  ];
  const disabled = new Set(config.maintenanceDisable);
  return all.filter((s): s is MaintenanceService => s !== null && !disabled.has(s.name));
}
