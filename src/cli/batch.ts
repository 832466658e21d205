import {
  addJobs,
  type Batch,
  closeBatch,
  createBatch,
  getBatch,
  listBatches,
} from "../queue/batches.ts";
import type { BatchInput } from "../queue/batches.ts";
import type { DependentInput } from "../queue/dependencies.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { intFlag, onePositional, withOperatorDb } from "./_operator.ts";
import { formatTime, printJson, printTable } from "./_output.ts";
import { readSpecFile } from "./_spec_file.ts";

const HELP = `Usage: sluice batch <subcommand> [options] [--json]

Batches: a group of jobs whose callback jobs (onSuccess, onFailure, onComplete) are enqueued
once when the group settles, with a summary of the counts in their payload.

Subcommands:
  create --file PATH     create from a JSON document (- reads stdin), the body of
                         POST /v1/batches: {"jobs": [...], "onComplete": {"kind": ...}, "open": false}
  add ID --file PATH     add {"jobs": [...]} to an open batch
  close ID               close a batch; it settles once every job has finished
  get ID                 progress: total, per state, percent, callback jobs
  list [--before ID] [--limit N]

Options:
  --json                 machine-readable output
  -h, --help
`;

const FLAGS = {
  json: { type: "boolean" },
  file: { type: "string" },
  before: { type: "string" },
  limit: { type: "string" },
} as const;

function bar(b: Batch): string {
  const width = 20;
  const full = Math.round((b.percent / 100) * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}] ${b.percent}%`;
}

function printBatch(b: Batch) {
  console.log(`batch ${b.id}${b.name ? ` '${b.name}'` : ""}: ${b.state} ${bar(b)}`);
  console.log(
    `  ${b.finished} of ${b.total} finished: ${
      Object.entries(b.counts).map(([s, n]) => `${s} ${n}`).join(", ") || "none yet"
    }`,
  );
  for (const [cb, id] of Object.entries(b.callbackJobs)) console.log(`  ${cb}: job ${id}`);
}

export const batchCommand: Command = {
  name: "batch",
  summary: "create batches of jobs with callbacks, add to, close and follow them",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values;
      const json = v.json === true;
      const show = (batch: Batch) => json ? printJson({ batch }) : printBatch(batch);
      if (!sub) throw new UsageError("missing subcommand (create, add, close, get, list)");
      return await withOperatorDb(async (sql, { defaults }) => {
        switch (sub) {
          case "create": {
            const doc = await readSpecFile(v.file) as BatchInput;
            const { batch } = await createBatch(sql, { ...doc, createdBy: "cli" }, { defaults });
            show(batch);
            return EXIT_OK;
          }
          case "add": {
            const id = onePositional(rest, "batch id");
            const doc = await readSpecFile(v.file);
            const jobs = (doc.jobs ?? []) as DependentInput[];
            await addJobs(sql, id, jobs.map((j) => ({ ...j, createdBy: "cli" })), { defaults });
            const batch = await getBatch(sql, id);
            show(batch);
            return EXIT_OK;
          }
          case "close":
          case "get": {
            const id = onePositional(rest, "batch id");
            const batch = sub === "close" ? await closeBatch(sql, id) : await getBatch(sql, id);
            show(batch);
            return EXIT_OK;
          }
          case "list": {
            const page = await listBatches(sql, {
              before: v.before,
              limit: intFlag("limit", v.limit, 1, 500),
            });
            if (json) printJson(page);
            else {
              printTable(page.batches.map((b) => ({
                id: b.id,
                name: b.name,
                state: b.state,
                progress: bar(b),
                total: b.total,
                created: formatTime(b.createdAt),
              })));
              if (page.next) console.log(`\nmore: sluice batch list --before ${page.next}`);
            }
            return EXIT_OK;
          }
          default:
            throw new UsageError(`unknown subcommand '${sub}'`);
        }
      });
    } catch (e) {
      return reportError(e);
    }
  },
};
