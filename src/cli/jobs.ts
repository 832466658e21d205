import { cancelJob } from "../queue/cancel.ts";
import {
  type DependentInput,
  enqueueWithParents,
  PARENT_FAILURE_POLICIES,
  type ParentFailurePolicy,
} from "../queue/dependencies.ts";
import { enqueueJob } from "../queue/enqueue.ts";
import { explainJob } from "../queue/explain.ts";
import { getJob, jobTimeline, listJobs } from "../queue/inspect.ts";
import { type Job, JOB_STATES, type JobState } from "../queue/job.ts";
import { replayJob, retryJob } from "../queue/replay.ts";
import {
  type Command,
  EXIT_OK,
  parseFlags,
  reportError,
  subcommandOf,
  UsageError,
} from "./_command.ts";
import {
  ENQUEUE_FLAG_NAMES,
  ENQUEUE_FLAGS,
  ENQUEUE_FLAGS_HELP,
  type EnqueueFlagValues,
  enqueueInputOf,
} from "./_enqueue_flags.ts";
import { intFlag, onePositional, withOperatorDb } from "./_operator.ts";
import { formatTime, printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice jobs <subcommand> [options] [--json]

Inspect and act on jobs straight against the database.

Subcommands:
  enqueue [--queue Q] ${ENQUEUE_FLAGS_HELP}
          [--depends-on ID[,ID...]]... [--on-parent-failure cancel|run|wait]
                         with --depends-on the job stays blocked until every parent succeeded
  get ID                 one job, with its errors
  list [--queue Q] [--state S] [--kind K] [--tag T] [--before ID] [--limit N]
                         newest first; --before takes the cursor printed under the table
  timeline ID            every transition with time, worker and attempt
  explain ID             why the job is where it is, in one sentence, with a code
  cancel ID              cancel a job that has not finished (a running one is aborted)
  retry ID               re-run a dead or cancelled job as a new linked job
  replay ID              re-run any finished job (also succeeded) as a new linked job

Options:
  --json                 machine-readable output
  -h, --help

States: ${JOB_STATES.join(", ")}. Priority: higher runs first.
`;

const FLAGS = {
  json: { type: "boolean" },
  queue: { type: "string" },
  ...ENQUEUE_FLAGS,
  "depends-on": { type: "string", multiple: true },
  "on-parent-failure": { type: "string" },
  state: { type: "string" },
  before: { type: "string" },
  limit: { type: "string" },
} as const;

type Values = EnqueueFlagValues & {
  json?: boolean;
  queue?: string;
  "depends-on"?: string[];
  "on-parent-failure"?: string;
  state?: string;
  before?: string;
  limit?: string;
};

const ALLOWED: Record<string, (keyof Values)[]> = {
  enqueue: ["queue", ...ENQUEUE_FLAG_NAMES, "depends-on", "on-parent-failure"],
  list: ["queue", "state", "kind", "tag", "before", "limit"],
  get: [],
  timeline: [],
  explain: [],
  cancel: [],
  retry: [],
  replay: [],
};

export const jobsCommand: Command = {
  name: "jobs",
  summary: "enqueue, list, inspect, explain, cancel, retry and replay jobs",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const v = parsed.values as Values;
      const { sub, rest } = subcommandOf("jobs", parsed.positionals, v, ALLOWED);
      const json = v.json === true;
      return await withOperatorDb(async (sql, { defaults }) => {
        switch (sub) {
          case "enqueue": {
            if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
            const dependsOn = v["depends-on"]?.flatMap((d) => d.split(",")).map((d) => d.trim());
            const policy = v["on-parent-failure"];
            if (policy !== undefined && !PARENT_FAILURE_POLICIES.includes(policy as never)) {
              throw new UsageError(
                `--on-parent-failure: '${policy}' is not one of ${
                  PARENT_FAILURE_POLICIES.join(", ")
                }`,
              );
            }
            const input: DependentInput = {
              ...enqueueInputOf(v),
              queue: v.queue,
              dependsOn,
              onParentFailure: policy as ParentFailurePolicy | undefined,
            };
            const [r] = dependsOn
              ? await enqueueWithParents(sql, [input], { defaults })
              : [await enqueueJob(sql, input, { defaults })];
            if (!r) throw new UsageError("nothing enqueued");
            if (json) printJson(r);
            else {
              console.log(
                `${
                  r.duplicate ? "duplicate of" : "enqueued"
                } job ${r.job.id} (${r.job.state}, queue ${r.job.queue})`,
              );
            }
            return EXIT_OK;
          }
          case "list": {
            if (v.state !== undefined && !JOB_STATES.includes(v.state as JobState)) {
              throw new UsageError(`--state: '${v.state}' is not one of ${JOB_STATES.join(", ")}`);
            }
            const page = await listJobs(sql, {
              queue: v.queue,
              state: v.state as JobState | undefined,
              kind: v.kind,
              tag: v.tag?.[0],
              before: v.before,
              limit: intFlag("limit", v.limit, 1, 500),
            });
            if (json) printJson(page);
            else {
              printTable(page.jobs.map(row), [
                "id",
                "queue",
                "kind",
                "state",
                "attempt",
                "created",
                "last_error",
              ]);
              if (page.nextCursor) {
                console.log(`\nmore: sluice jobs list --before ${page.nextCursor}`);
              }
            }
            return EXIT_OK;
          }
          case "get": {
            const job = await getJob(sql, onePositional(rest, "job id"));
            if (json) printJson({ job });
            else printJobDetail(job);
            return EXIT_OK;
          }
          case "timeline": {
            const t = await jobTimeline(sql, onePositional(rest, "job id"));
            if (json) printJson(t);
            else {
              printTable(t.timeline.map((e) => ({
                at: formatTime(e.at),
                event: e.event,
                attempt: e.attempt,
                worker: e.workerId,
                detail: Object.keys(e.detail).length ? e.detail : null,
              })));
            }
            return EXIT_OK;
          }
          case "explain": {
            const { explain } = await explainJob(sql, onePositional(rest, "job id"), { defaults });
            if (json) printJson(explain);
            else console.log(`${explain.code}: ${explain.sentence}`);
            return EXIT_OK;
          }
          case "cancel": {
            const job = await cancelJob(sql, onePositional(rest, "job id"));
            if (json) printJson({ job });
            else {
              console.log(
                job.state === "cancelled"
                  ? `cancelled job ${job.id}`
                  : `job ${job.id} is running: cancellation requested, its worker aborts it at the next heartbeat`,
              );
            }
            return EXIT_OK;
          }
          case "retry":
          case "replay": {
            const id = onePositional(rest, "job id");
            const job = sub === "retry"
              ? await retryJob(sql, id, { createdBy: "cli" })
              : await replayJob(sql, id, { createdBy: "cli" });
            if (json) printJson({ job });
            else console.log(`job ${id} re-runs as job ${job.id} (${job.state})`);
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

function row(j: Job): Record<string, unknown> {
  return {
    id: j.id,
    queue: j.queue,
    kind: j.kind,
    state: j.state,
    attempt: `${j.attempt}/${j.maxAttempts}`,
    created: formatTime(j.createdAt),
    last_error: j.lastError ? `${j.lastError.code}: ${j.lastError.message}`.slice(0, 60) : null,
  };
}

function printJobDetail(j: Job): void {
  const lines: [string, unknown][] = [
    ["id", j.id],
    ["queue", j.queue],
    ["kind", j.kind],
    ["state", j.state],
    ["attempt", `${j.attempt} of ${j.maxAttempts}`],
    ["priority", j.priority],
    ["run at", formatTime(j.runAt)],
    ["created", `${formatTime(j.createdAt)}${j.createdBy ? ` by ${j.createdBy}` : ""}`],
    ["started", formatTime(j.startedAt)],
    ["finished", formatTime(j.finishedAt)],
    ["worker", j.workerId ?? "-"],
    ["lease until", formatTime(j.leaseExpiresAt)],
    ["dead reason", j.deadReason ?? "-"],
    ["retry of", j.retryOf ?? "-"],
    ["tags", j.tags.join(", ") || "-"],
    ["payload", JSON.stringify(j.payload)],
    ["result", JSON.stringify(j.result)],
  ];
  for (const [k, val] of lines) console.log(`${k.padEnd(12)} ${val}`);
  if (j.errors.length > 0) {
    console.log("\nerrors:");
    printTable(
      j.errors.map((e) => ({
        attempt: e.attempt,
        at: formatTime(e.at),
        code: e.code,
        message: e.message,
        worker: e.worker,
      })),
    );
  }
}
