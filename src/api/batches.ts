/**
 * `/v1/batches`: groups of jobs with callbacks enqueued once when the group settles
 * (src/queue/batches.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  addJobs,
  BATCH_CALLBACKS,
  type BatchInput,
  closeBatch,
  createBatch,
  getBatch,
  listBatches,
} from "../queue/batches.ts";
import type { EnqueueResult } from "../queue/enqueue.ts";
import { admitted } from "./_admit.ts";
import { ownerOf, requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import {
  EnqueueBody,
  errorResponses,
  IdParam,
  jobResource,
  JobSchema,
  jsonBodyOf,
  jsonContent,
  toEnqueueInput,
} from "./schemas.ts";

const tags = ["batches"];
const Callback = EnqueueBody.omit({
  dependsOn: true,
  onParentFailure: true,
  runAt: true,
  delay: true,
  idempotencyKey: true,
}).openapi({ description: "a job enqueued when the batch settles; payload gets {batch: summary}" });

const BatchBody = z.strictObject({
  name: z.string().optional(),
  jobs: z.array(EnqueueBody).optional(),
  onSuccess: Callback.optional(),
  onFailure: Callback.optional(),
  onComplete: Callback.optional(),
  open: z.boolean().optional().openapi({
    description: "keep taking jobs (POST /v1/batches/{id}/jobs) until closed; default false",
  }),
}).openapi("BatchRequest");

const BatchSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  state: z.enum(["open", "running", "settled"]),
  total: z.number().int(),
  counts: z.record(z.string(), z.number()),
  finished: z.number().int(),
  percent: z.number().int(),
  callbacks: z.record(z.string(), z.object({ kind: z.string(), queue: z.string() })),
  callbackJobs: z.record(z.string(), z.string()),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
  closedAt: z.string().nullable(),
  settledAt: z.string().nullable(),
}).openapi("Batch");
const Results = z.array(z.object({ job: JobSchema, duplicate: z.boolean() }));
const results = (rs: EnqueueResult[]) =>
  rs.map((x) => ({ job: jobResource(x.job), duplicate: x.duplicate }));

export function batchesRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql } = ctx;

  r.openapi(
    createRoute({
      method: "post",
      path: "/batches",
      tags,
      summary: "Create a batch of jobs with onSuccess / onFailure / onComplete callback jobs",
      middleware: [requireScope("producer")] as const,
      request: jsonBodyOf(BatchBody),
      responses: {
        201: jsonContent(z.object({ batch: BatchSchema, results: Results }), "the batch"),
        ...errorResponses(404, 413, 415, 422),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const token = c.get("token");
      const owner = ownerOf(c);
      const jobs = (b.jobs ?? []).map((j, i) => ({
        ...toEnqueueInput(j, token.name, i),
        owner,
      }));
      const input: BatchInput = {
        name: b.name ?? null,
        jobs,
        open: b.open,
        createdBy: token.name,
        owner,
      };
      for (const cb of BATCH_CALLBACKS) {
        const spec = b[cb];
        if (spec) input[cb] = { ...toEnqueueInput(spec, token.name), owner };
      }
      const out = await admitted(
        ctx,
        jobs,
        (opts) => createBatch(sql, input, { ...opts, ownedBy: owner }),
      );
      return c.json({ batch: out.batch, results: results(out.jobs) }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/batches/{id}/jobs",
      tags,
      summary: "Add jobs to an open batch (409 BATCH_CLOSED once closed)",
      middleware: [requireScope("producer")] as const,
      request: {
        params: IdParam,
        ...jsonBodyOf(z.strictObject({ jobs: z.array(EnqueueBody).min(1) })),
      },
      responses: {
        201: jsonContent(z.object({ batch: BatchSchema, results: Results }), "the jobs added"),
        ...errorResponses(404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const token = c.get("token");
      const owner = ownerOf(c);
      const jobs = c.req.valid("json").jobs.map((j, i) => ({
        ...toEnqueueInput(j, token.name, i),
        owner,
      }));
      const added = await admitted(
        ctx,
        jobs,
        (opts) => addJobs(sql, id, jobs, { ...opts, ownedBy: owner }),
      );
      return c.json({ batch: await getBatch(sql, id), results: results(added) }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/batches/{id}/close",
      tags,
      summary: "Close a batch: it settles once every job has finished",
      middleware: [requireScope("producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ batch: BatchSchema }), "the batch"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const batch = await closeBatch(sql, c.req.valid("param").id, { ownedBy: ownerOf(c) });
      return c.json({ batch }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/batches",
      tags,
      summary: "List batches, newest first",
      middleware: [requireScope("read", "producer")] as const,
      request: {
        query: z.strictObject({
          name: z.string().optional(),
          before: z.string().regex(/^[1-9][0-9]{0,18}$/).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({ batches: z.array(BatchSchema), nextCursor: z.string().nullable() }),
          "a page of batches",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const page = await listBatches(sql, { ...c.req.valid("query"), ownedBy: ownerOf(c) });
      return c.json({ batches: page.batches, nextCursor: page.next }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/batches/{id}",
      tags,
      summary: "A batch's progress: total, per state, percent",
      middleware: [requireScope("read", "producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ batch: BatchSchema }), "the batch"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const batch = await getBatch(sql, c.req.valid("param").id, { ownedBy: ownerOf(c) });
      return c.json({ batch }, 200);
    },
  );
  return r;
}
