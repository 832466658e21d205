import {
  createSchedule,
  deleteSchedule,
  listSchedules,
  type MissedPolicy,
  setSchedulePaused,
} from "../queue/schedules.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { jsonFlag, onePositional, withOperatorDb } from "./_operator.ts";
import { printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice schedule <subcommand> [options] [--json]

Cron schedules: the maintenance leader enqueues one job per due slot (once across every
maintenance process), computed in the schedule's IANA time zone (DST-aware).

Subcommands:
  create NAME --cron EXPR --kind KIND [--queue Q] [--tz ZONE] [--payload JSON] [--missed skip|once]
  list                   schedules with their next and last slot, and why one is failing
  pause NAME             stop firing (the row stays)
  resume NAME            fire again from the next slot after now (missed slots are not replayed)
  delete NAME

Options:
  --cron EXPR      5 or 6 fields (seconds first when 6), e.g. "0 3 * * *" or "*/15 * * * *"
  --tz ZONE        IANA time zone, e.g. Europe/Berlin (default UTC)
  --queue Q        default "default"
  --kind KIND      the job kind to enqueue
  --payload JSON   a JSON object (default {})
  --missed MODE    slots missed while maintenance was down: skip (default SLUICE_SCHEDULE_MISSED)
                   or once (run one job for all of them); never one job per missed slot
  --json           machine-readable output
  -h, --help

Example:
  sluice schedule create nightly-report --cron "0 3 * * *" --tz Europe/Berlin --kind report.build
`;

const FLAGS = {
  json: { type: "boolean" },
  cron: { type: "string" },
  tz: { type: "string" },
  queue: { type: "string" },
  kind: { type: "string" },
  payload: { type: "string" },
  missed: { type: "string" },
} as const;

export const scheduleCommand: Command = {
  name: "schedule",
  summary: "create, list, pause, resume and delete cron schedules",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values;
      const json = v.json === true;
      if (!sub) throw new UsageError("missing subcommand (create, list, pause, resume, delete)");
      if (sub !== "create") {
        const extra = (["cron", "tz", "queue", "kind", "payload", "missed"] as const)
          .find((k) => v[k] !== undefined);
        if (extra) throw new UsageError(`--${extra} does not apply to 'schedule ${sub}'`);
      }
      return await withOperatorDb(async (sql, { config, defaults }) => {
        switch (sub) {
          case "create": {
            const name = onePositional(rest, "schedule name");
            if (!v.cron) throw new UsageError("missing --cron");
            if (!v.kind) throw new UsageError("missing --kind");
            if (v.missed !== undefined && v.missed !== "skip" && v.missed !== "once") {
              throw new UsageError(`--missed: "${v.missed}" is not skip or once`);
            }
            const s = await createSchedule(sql, {
              name,
              cron: v.cron,
              timezone: v.tz,
              queue: v.queue,
              kind: v.kind,
              payload: jsonFlag("payload", v.payload),
              missed: v.missed as MissedPolicy | undefined,
            }, { defaults, missedDefault: config.scheduleMissed });
            if (json) printJson({ schedule: s });
            else console.log(`created schedule ${s.name} (next slot ${s.nextSlot ?? "never"})`);
            return EXIT_OK;
          }
          case "list": {
            if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
            const all = await listSchedules(sql);
            if (json) printJson({ schedules: all });
            else {
              printTable(all.map((s) => ({
                name: s.name,
                cron: s.cron,
                tz: s.timezone,
                queue: s.queue,
                kind: s.kind,
                paused: s.paused ? "yes" : "no",
                missed: s.missed,
                next: s.nextSlot,
                last: s.lastSlot,
                // Why the last slot could not fire, and since when it fails.
                failing: s.failingSince ? `since ${s.failingSince}: ${s.lastError}` : "-",
              })));
            }
            return EXIT_OK;
          }
          case "pause":
          case "resume": {
            const s = await setSchedulePaused(
              sql,
              onePositional(rest, "schedule name"),
              sub === "pause",
            );
            if (json) printJson({ schedule: s });
            else {console.log(
                `schedule ${s.name} is ${s.paused ? "paused" : `active (next ${s.nextSlot})`}`,
              );}
            return EXIT_OK;
          }
          case "delete": {
            const name = onePositional(rest, "schedule name");
            await deleteSchedule(sql, name);
            if (json) printJson({ deleted: name });
            else console.log(`deleted schedule ${name}`);
            return EXIT_OK;
          }
        }
        throw new UsageError(`unknown subcommand '${sub}'`);
      });
    } catch (e) {
      return reportError(e);
    }
  },
};
