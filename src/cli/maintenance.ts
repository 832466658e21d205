import type { Config } from "../config/vars.ts";
import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { acquireLeadership, releaseLeadership } from "../maintenance/leader.ts";
import {
  type MaintenanceLoop,
  runMaintenancePass,
  startMaintenanceLoop,
} from "../maintenance/loop.ts";
import { maintenanceServices } from "../maintenance/services.ts";
import { type Command, EXIT_FAILURE, EXIT_OK, parseFlags } from "./_command.ts";
import { connectRole, prepareSchema, runRole, shutdownSignal } from "./_runtime.ts";

const HELP = `Usage: sluice maintenance [--once]

Runs the periodic services. Any number of maintenance processes may run: they elect one leader
through the database (a lease renewed every third of SLUICE_MAINTENANCE_LEADER_TTL, default
15s), and only the leader works; when it dies another takes over within the TTL.

Services, in pass order, each every SLUICE_MAINTENANCE_INTERVAL after its last pass ended
(disable with SLUICE_MAINTENANCE_DISABLE=name,name):
  reaper        jobs whose lease expired go back to available (or dead on their last attempt)
  promoter      scheduled and retrying jobs whose time came become available
  scheduler     fires due cron schedules (sluice schedule …), once per slot
  archiver      succeeded jobs older than SLUICE_ARCHIVE_SUCCEEDED_AFTER (7d) move to the archive
  pruner        archive, dead and cancelled jobs and event history older than
                SLUICE_PRUNE_HISTORY_AFTER (30d) are deleted
  scrubber      payloads of finished jobs older than SLUICE_SCRUB_PAYLOADS_AFTER (off) become
                {"scrubbed": true}
  counter       counts finished jobs per queue for metrics (at most once a minute)
  alerts        evaluates the alerts (SLUICE_ALERT_*) and records firing/resolved
  vacuum        vacuums sluice.jobs in the background once 100,000 tuples and a fifth of the
                live ones are dead (autovacuum comes round only once a minute)
  table_health  warns when a long transaction pins vacuum or sluice.jobs bloats

Options:
  --once      take the lease, run one pass of every service, print the counts as JSON, exit
              (exit 1 when another process holds the lease)
  -h, --help

Environment: DATABASE_URL (or DATABASE_URL_FILE), SLUICE_MAINTENANCE_INTERVAL (default 5s), SLUICE_MAINTENANCE_*,
SLUICE_ARCHIVE_SUCCEEDED_AFTER, SLUICE_PRUNE_HISTORY_AFTER, SLUICE_SCRUB_PAYLOADS_AFTER,
SLUICE_SCHEDULE_MISSED, SLUICE_ALERT_*, SLUICE_XMIN_HORIZON_WARN, SLUICE_DEAD_TUPLE_RATIO_WARN.
`;

export const maintenanceCommand: Command = {
  name: "maintenance",
  summary: "reaper, cron scheduler, archiver, pruner, scrubber, alerts (one elected leader)",
  help: HELP,
  run(args) {
    return runRole("maintenance", async (run) => {
      const parsed = parseFlags(args, { once: { type: "boolean" } }, HELP);
      if (!parsed) return EXIT_OK;
      const { config, log } = await run.setup();
      const db = await connectRole(config, log, { max: 4 });
      try {
        await prepareSchema(db.sql, config, log, { migrateByDefault: false });
        const holder = maintenanceHolder(config);
        if (parsed.values.once) return await runOnce(db.sql, config, log, holder);
        const stopping = shutdownSignal();
        const loop = startMaintenance(db.sql, config, log);
        run.ready();
        log.info("maintenance_started", {
          holder,
          services: maintenanceServices(config).map((s) => s.name),
        });
        const sig = await stopping;
        log.info("shutdown_requested", { signal: sig });
        await loop.stop();
      } finally {
        await db.close();
      }
      return EXIT_OK;
    });
  },
};

/** The lease holder name: unique per process, readable in the ops view. */
export function maintenanceHolder(config: Config): string {
  return `${config.workerId}/maintenance`;
}

/** The maintenance loop as `sluice maintenance` and `sluice up` run it. */
export function startMaintenance(sql: Sql, config: Config, log: Logger): MaintenanceLoop {
  return startMaintenanceLoop(sql, {
    log,
    services: maintenanceServices(config),
    holder: maintenanceHolder(config),
    leaderTtlMs: config.maintenanceLeaderTtlMs,
  });
}

async function runOnce(sql: Sql, config: Config, log: Logger, holder: string): Promise<number> {
  const l = await acquireLeadership(sql, holder, config.maintenanceLeaderTtlMs);
  if (!l.leader) {
    console.error(
      `error: another maintenance process ('${l.holder}') holds the lease until ${l.expiresAt?.toISOString()}`,
    );
    return EXIT_FAILURE;
  }
  try {
    const services = maintenanceServices(config);
    const counts = await runMaintenancePass(sql, services, { log, holder });
    await Promise.all(services.map((s) => s.settled?.()));
    console.log(JSON.stringify({ holder, term: l.term, services: counts }));
    return Object.values(counts).some((c) => "error" in c) ? EXIT_FAILURE : EXIT_OK;
  } finally {
    await releaseLeadership(sql, holder).catch((e) =>
      log.warn("maintenance_leader_release_failed", { error: e })
    );
  }
}
