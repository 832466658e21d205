/**
 * `/v1/workflows`: a DAG of jobs created at once (src/queue/workflows.ts). Producers see and
 * cancel their own workflows; `read` tokens see all of them.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { JOB_STATES } from "../queue/job.ts";
import { PARENT_FAILURE_POLICIES } from "../queue/dependencies.ts";
import {
  cancelWorkflow,
  createWorkflow,
  getWorkflow,
  listWorkflows,
  WORKFLOW_STATES,
  type WorkflowNodeInput,
} from "../queue/workflows.ts";
import { admitted } from "./_admit.ts";
import { ownerOf, requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import {
  EnqueueBody,
  errorResponses,
  IdParam,
  jsonBodyOf,
  jsonContent,
  toEnqueueInput,
} from "./schemas.ts";

const tags = ["workflows"];

const NodeBody = EnqueueBody.omit({ dependsOn: true, idempotencyKey: true }).extend({
  key: z.string().openapi({ example: "parse", description: "unique in the workflow" }),
  dependsOn: z.array(z.string()).optional().openapi({
    example: ["fetch"],
    description: "keys of nodes of this workflow",
  }),
  onParentFailure: z.enum(PARENT_FAILURE_POLICIES).optional(),
}).openapi("WorkflowNodeRequest");

const WorkflowBody = z.strictObject({
  name: z.string().openapi({ example: "ingest" }),
  jobs: z.array(NodeBody).min(1),
}).openapi("WorkflowRequest");

const counts = z.record(z.string(), z.number());
const WorkflowSummary = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(WORKFLOW_STATES),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  cancelledAt: z.string().nullable(),
  counts,
});
const WorkflowSchema = WorkflowSummary.extend({
  nodes: z.array(z.object({
    key: z.string(),
    jobId: z.string(),
    state: z.enum(JOB_STATES),
    kind: z.string(),
    queue: z.string(),
    dependsOn: z.array(z.string()),
    previousJobIds: z.array(z.string()).openapi({ description: "replayed jobs of this node" }),
  })),
}).openapi("Workflow");
const Envelope = z.object({ workflow: WorkflowSchema });

export function workflowsRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql } = ctx;

  r.openapi(
    createRoute({
      method: "post",
      path: "/workflows",
      tags,
      summary: "Create a workflow: every job and edge in one transaction",
      middleware: [requireScope("producer")] as const,
      request: jsonBodyOf(WorkflowBody),
      responses: {
        201: jsonContent(Envelope, "the workflow with every node's job id"),
        ...errorResponses(404, 413, 415),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const token = c.get("token");
      const nodes: WorkflowNodeInput[] = body.jobs.map((n, i) => ({
        ...toEnqueueInput({ ...n, dependsOn: undefined }, token.name, i),
        key: n.key,
        dependsOn: n.dependsOn,
        onParentFailure: n.onParentFailure,
      }));
      const workflow = await admitted(ctx, nodes, (opts) =>
        createWorkflow(sql, {
          name: body.name,
          jobs: nodes,
          createdBy: token.name,
          owner: ownerOf(c),
        }, opts));
      return c.json({ workflow }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/workflows",
      tags,
      summary: "List workflows, newest first",
      middleware: [requireScope("read", "producer")] as const,
      request: {
        query: z.strictObject({
          name: z.string().optional(),
          state: z.enum(WORKFLOW_STATES).optional(),
          before: z.string().regex(/^[1-9][0-9]{0,18}$/).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({ workflows: z.array(WorkflowSummary), nextCursor: z.string().nullable() }),
          "a page of workflows (the state filter applies within the page)",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const page = await listWorkflows(sql, { ...c.req.valid("query"), ownedBy: ownerOf(c) });
      return c.json({ workflows: page.workflows, nextCursor: page.next }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/workflows/{id}",
      tags,
      summary: "A workflow: its state and every node's state",
      middleware: [requireScope("read", "producer")] as const,
      request: { params: IdParam },
      responses: { 200: jsonContent(Envelope, "the workflow"), ...errorResponses(404) },
    }),
    async (c) => {
      const workflow = await getWorkflow(sql, c.req.valid("param").id, { ownedBy: ownerOf(c) });
      return c.json({ workflow }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/workflows/{id}/cancel",
      tags,
      summary: "Cancel what has not finished (running nodes stop at their next heartbeat)",
      middleware: [requireScope("producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(Envelope, "the workflow after cancellation"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const workflow = await cancelWorkflow(sql, c.req.valid("param").id, { ownedBy: ownerOf(c) });
      return c.json({ workflow }, 200);
    },
  );
  return r;
}
