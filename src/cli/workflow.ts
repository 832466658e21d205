import {
  cancelWorkflow,
  createWorkflow,
  getWorkflow,
  listWorkflows,
  type Workflow,
  WORKFLOW_STATES,
  type WorkflowNodeInput,
  type WorkflowState,
} from "../queue/workflows.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { intFlag, onePositional, withOperatorDb } from "./_operator.ts";
import { formatTime, printJson, printTable } from "./_output.ts";
import { readSpecFile } from "./_spec_file.ts";

const HELP = `Usage: sluice workflow <subcommand> [options] [--json]

Workflows: a graph of jobs created at once; a node runs when the nodes it depends on succeeded.

Subcommands:
  create --file PATH     create from a JSON document (- reads stdin), the body of
                         POST /v1/workflows: {"name", "jobs": [{"key", "kind", "dependsOn": [...]}]}
  get ID                 the workflow's state and every node (key, job id, state, parents)
  list [--name N] [--state S] [--before ID] [--limit N]
  cancel ID              cancel every node that has not finished

Options:
  --json                 machine-readable output
  -h, --help

States: ${WORKFLOW_STATES.join(", ")}.
`;

const FLAGS = {
  json: { type: "boolean" },
  file: { type: "string" },
  name: { type: "string" },
  state: { type: "string" },
  before: { type: "string" },
  limit: { type: "string" },
} as const;

function printWorkflow(w: Workflow) {
  console.log(`workflow ${w.id} '${w.name}': ${w.state} (created ${formatTime(w.createdAt)})`);
  printTable(w.nodes.map((n) => ({
    key: n.key,
    job: n.jobId,
    kind: n.kind,
    state: n.state,
    depends_on: n.dependsOn.join(",") || null,
  })));
}

export const workflowCommand: Command = {
  name: "workflow",
  summary: "create, inspect, list and cancel workflows (graphs of dependent jobs)",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values;
      const json = v.json === true;
      const show = (w: Workflow) => json ? printJson({ workflow: w }) : printWorkflow(w);
      if (!sub) throw new UsageError("missing subcommand (create, get, list, cancel)");
      return await withOperatorDb(async (sql, { defaults }) => {
        switch (sub) {
          case "create": {
            const doc = await readSpecFile(v.file);
            const w = await createWorkflow(sql, {
              name: doc.name as string,
              jobs: (doc.jobs ?? []) as WorkflowNodeInput[],
              createdBy: "cli",
            }, { defaults });
            show(w);
            return EXIT_OK;
          }
          case "get": {
            const w = await getWorkflow(sql, onePositional(rest, "workflow id"));
            show(w);
            return EXIT_OK;
          }
          case "list": {
            if (v.state !== undefined && !WORKFLOW_STATES.includes(v.state as WorkflowState)) {
              throw new UsageError(
                `--state: '${v.state}' is not one of ${WORKFLOW_STATES.join(", ")}`,
              );
            }
            const page = await listWorkflows(sql, {
              name: v.name,
              state: v.state as WorkflowState | undefined,
              before: v.before,
              limit: intFlag("limit", v.limit, 1, 500),
            });
            if (json) printJson(page);
            else {
              printTable(page.workflows.map((w) => ({
                id: w.id,
                name: w.name,
                state: w.state,
                nodes: Object.entries(w.counts).map(([s, n]) => `${s} ${n}`).join(", "),
                created: formatTime(w.createdAt),
              })));
              if (page.next) console.log(`\nmore: sluice workflow list --before ${page.next}`);
            }
            return EXIT_OK;
          }
          case "cancel": {
            const w = await cancelWorkflow(sql, onePositional(rest, "workflow id"));
            show(w);
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
