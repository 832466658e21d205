import { parseDuration } from "../config/parse.ts";
import { listDeadLetterGroups, MAX_REPLAY_PER_CALL, replayDeadLetters } from "../queue/dlq.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { intFlag, withOperatorDb } from "./_operator.ts";
import { formatTime, printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice dlq <subcommand> [options] [--json]

The dead-letter queue: jobs that used all their attempts, failed permanently or timed out.

Subcommands:
  list [filters]            dead jobs grouped by queue and reason, with how many are not
                            replayed yet
  replay ID...              replay these dead jobs as new linked jobs
  replay [filters] --all    replay dead jobs matching the filters that were not replayed
                            yet, oldest first, at most --limit per call (run again for the
                            rest); --all is required when no filter is given

Filters:
  --queue Q                 one queue
  --reason R                a dead reason, e.g. DEAD_MAX_ATTEMPTS, DEAD_PERMANENT_ERROR
  --kind K                  one kind
  --since DURATION|ISO      died within DURATION (e.g. 2h) or at/after a time

Options:
  --limit N                 jobs replayed per call (default 100, at most ${MAX_REPLAY_PER_CALL})
  --json                    machine-readable output
  -h, --help

A replay creates a new job (same queue, kind, payload, options) linked by retry_of; the dead
job stays as it was and its timeline shows the replay. Single jobs: sluice jobs retry ID.
`;

const FLAGS = {
  json: { type: "boolean" },
  queue: { type: "string" },
  reason: { type: "string" },
  kind: { type: "string" },
  since: { type: "string" },
  limit: { type: "string" },
  all: { type: "boolean" },
} as const;

export const dlqCommand: Command = {
  name: "dlq",
  summary: "list dead-letter jobs by queue and reason; replay them by id or filter",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values;
      const filter = {
        queue: v.queue ?? null,
        reason: v.reason ?? null,
        kind: v.kind ?? null,
        since: sinceFlag(v.since),
      };
      const json = v.json === true;
      if (sub === "list") {
        if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
        if (v.limit !== undefined || v.all) {
          throw new UsageError("--limit and --all are for replay");
        }
        return await withOperatorDb(async (sql) => {
          const groups = await listDeadLetterGroups(sql, filter);
          if (json) printJson({ groups });
          else {
            printTable(groups.map((g) => ({
              queue: g.queue,
              reason: g.reason,
              count: g.count,
              unreplayed: g.unreplayed,
              oldest: formatTime(g.oldest),
              newest: formatTime(g.newest),
            })));
          }
          return EXIT_OK;
        });
      }
      if (sub === "replay") {
        const hasFilter = Object.values(filter).some((x) => x !== null);
        if (rest.length > 0 && (hasFilter || v.all)) {
          throw new UsageError("give job ids or filters, not both");
        }
        if (rest.length === 0 && !hasFilter && !v.all) {
          throw new UsageError("give job ids, a filter, or --all to replay every dead job");
        }
        const limit = intFlag("limit", v.limit, 1, MAX_REPLAY_PER_CALL);
        return await withOperatorDb(async (sql) => {
          const report = await replayDeadLetters(sql, {
            ...filter,
            ids: rest.length > 0 ? rest : null,
            limit: limit ?? (rest.length > 0 ? rest.length : undefined),
            createdBy: "cli",
          });
          if (json) printJson(report);
          else {
            if (report.replayed.length > 0) {
              printTable(report.replayed.map((r) => ({
                dead_job: r.id,
                new_job: r.newId,
                queue: r.queue,
                reason: r.reason,
              })));
            }
            console.log(
              `replayed ${report.replayed.length} dead job(s)${
                rest.length === 0 ? `; ${report.remaining} more match (run again to continue)` : ""
              }`,
            );
            if (report.skipped.length > 0) {
              console.log(`not dead (skipped): ${report.skipped.join(", ")}`);
            }
          }
          return EXIT_OK;
        });
      }
      throw new UsageError(
        sub ? `unknown subcommand '${sub}'` : "missing subcommand (list, replay)",
      );
    } catch (e) {
      return reportError(e);
    }
  },
};

function sinceFlag(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const ms = parseDuration(value);
  if (ms !== null) return new Date(Date.now() - ms);
  const at = Date.parse(value);
  if (Number.isNaN(at)) {
    throw new UsageError(`--since: "${value}" is neither a duration (2h) nor a time (ISO 8601)`);
  }
  return new Date(at);
}
