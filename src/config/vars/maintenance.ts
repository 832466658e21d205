/** The maintenance role: pass interval, leader lease, retention (archive, prune, scrub), schedules. */
import { duration, invalid, list, oneOf, orNull, quote, showDuration } from "../parse.ts";
import { v } from "../spec.ts";

/** Maintenance services that `SLUICE_MAINTENANCE_DISABLE` may name (src/maintenance/services.ts). */
export const MAINTENANCE_SERVICE_NAMES = [
  "reaper",
  "promoter",
  "scheduler",
  "archiver",
  "pruner",
  "scrubber",
  "counter",
  "alerts",
  "vacuum",
  "table_health",
] as const;

function serviceList(raw: string): string[] {
  const names = list(raw).map((s) => s.toLowerCase());
  const bad = names.filter((n) => !(MAINTENANCE_SERVICE_NAMES as readonly string[]).includes(n));
  if (bad.length > 0) {
    invalid(
      `${bad.map(quote).join(", ")} ${
        bad.length === 1 ? "is not a" : "are not"
      } maintenance service${bad.length === 1 ? "" : "s"} (use ${
        MAINTENANCE_SERVICE_NAMES.join(", ")
      })`,
    );
  }
  return [...new Set(names)];
}

export const MAINTENANCE_VARS = {
  maintenanceIntervalMs: v({
    name: "SLUICE_MAINTENANCE_INTERVAL",
    default: "5s",
    parse: duration({ min: 100 }),
    show: showDuration,
    description: "Pause between maintenance passes (reaper, scheduler, archiver…); default 5s",
  }),
  maintenanceDisable: v({
    name: "SLUICE_MAINTENANCE_DISABLE",
    default: "",
    parse: serviceList,
    description:
      "Maintenance services not to run, comma list (e.g. archiver,scrubber); default none",
  }),
  maintenanceLeaderTtlMs: v({
    name: "SLUICE_MAINTENANCE_LEADER_TTL",
    default: "15s",
    parse: duration({ min: 1_000, max: 600_000 }),
    show: showDuration,
    description:
      "Maintenance leader lease; another process takes over this long after the leader dies; 15s",
  }),
  archiveSucceededAfterMs: v({
    name: "SLUICE_ARCHIVE_SUCCEEDED_AFTER",
    default: "7d",
    parse: duration({ min: 1_000, max: 36_500 * 86_400_000 }),
    show: showDuration,
    description: "Succeeded jobs move to the archive after this age; default 7d",
  }),
  pruneHistoryAfterMs: v({
    name: "SLUICE_PRUNE_HISTORY_AFTER",
    default: "30d",
    parse: duration({ min: 1_000, max: 36_500 * 86_400_000 }),
    show: showDuration,
    description: "Archived jobs and their history are deleted after this age; default 30d",
  }),
  scrubPayloadsAfterMs: v({
    name: "SLUICE_SCRUB_PAYLOADS_AFTER",
    default: "off",
    parse: orNull<number>("off", duration({ min: 1_000, max: 36_500 * 86_400_000 })),
    show: (ms) => ms === null ? "off" : showDuration(ms),
    nullLabel: "off",
    description: "Payloads of finished jobs are blanked after this age; off (default) keeps them",
  }),
  scheduleMissed: v({
    name: "SLUICE_SCHEDULE_MISSED",
    default: "skip",
    parse: oneOf(["skip", "once"] as const),
    description:
      "Default for cron slots missed while down: skip them, or run once for all; default skip",
  }),
};
