/**
 * The maintenance services, in the order a pass runs them: one file each, each with its own
 * interval (all SLUICE_MAINTENANCE_INTERVAL today). This list applies configuration:
 * SLUICE_MAINTENANCE_DISABLE drops services by name, and a service whose setting is off
 * (SLUICE_SCRUB_PAYLOADS_AFTER=off) is not listed.
 */
import type { Config } from "../config/vars.ts";
import { engineDefaults } from "../queue/queues.ts";
import { alerts, alertThresholds } from "./alerts.ts";
import { archiver } from "./archiver.ts";
import { counter } from "./counter.ts";
import { promoter } from "./promoter.ts";
import { pruner } from "./pruner.ts";
import { reaper } from "./reaper.ts";
import { scheduler } from "./scheduler.ts";
import { scrubber } from "./scrubber.ts";
import type { MaintenanceService } from "./service.ts";
import { tableHealth } from "./table_health.ts";
import { vacuum } from "./vacuum.ts";

export type { MaintenanceService, ServiceContext } from "./service.ts";

export function maintenanceServices(config: Config): MaintenanceService[] {
  const everyMs = config.maintenanceIntervalMs;
  const all: (MaintenanceService | null)[] = [
    reaper({ everyMs }),
    promoter({ everyMs }),
    scheduler({ everyMs, defaults: engineDefaults(config) }),
    archiver({ everyMs, olderThanMs: config.archiveSucceededAfterMs }),
    pruner({ everyMs, olderThanMs: config.pruneHistoryAfterMs }),
    config.scrubPayloadsAfterMs === null
      ? null
      : scrubber({ everyMs, olderThanMs: config.scrubPayloadsAfterMs }),
    counter({ everyMs }),
    alerts({ everyMs, thresholds: alertThresholds(config) }),
    vacuum({ everyMs }),
    tableHealth({
      everyMs,
      xminHorizonMs: config.xminHorizonWarnMs,
      deadTupleRatio: config.deadTupleRatioWarn,
    }),
  ];
  const disabled = new Set(config.maintenanceDisable);
  return all.filter((s): s is MaintenanceService => s !== null && !disabled.has(s.name));
}
