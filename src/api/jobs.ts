/** Jobs: enqueue one or a batch, list, get, timeline, explain, retry, replay, cancel. */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { SluiceError } from "../errors.ts";
import { cancelJob } from "../queue/cancel.ts";
import { timed } from "../obs/series.ts";
import { enqueueWithParents, hasParents } from "../queue/dependencies.ts";
import { enqueueJobs } from "../queue/enqueue.ts";
import { explainJob } from "../queue/explain.ts";
import { getJob, isJobId, jobNotFound, jobTimeline, listJobs } from "../queue/inspect.ts";
import { replayJob, retryJob } from "../queue/replay.ts";
import { admitted } from "./_admit.ts";
import { countJobs } from "../queue/job_filter.ts";
import { BULK_ACTIONS, BULK_STATES, bulkAct, MAX_BULK_JOBS } from "../queue/bulk.ts";
import { runJobNow } from "../queue/run_now.ts";
import { ownerOf, requireScope } from "./auth.ts";
import { type ApiContext, type Env, newRouter } from "./deps.ts";
import {
  EnqueueBody,
  errorResponses,
  IdParam,
  JobCount,
  JobFilterQuery,
  jobResource,
  JobSchema,
  jsonBodyOf,
  jsonContent,
  toEnqueueInput,
} from "./schemas.ts";

const JobEnvelope = z.object({ job: JobSchema, duplicate: z.boolean().optional() });
const tags = ["jobs"];

export function jobsRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql, defaults } = ctx;
  /** Validation, admission control, then one insert for the whole request (all or nothing). */
  async function enqueue(c: Context<Env>, bodies: z.infer<typeof EnqueueBody>[]) {
    const token = c.get("token");
    const batch = bodies.length > 1 || c.req.path.endsWith("/batch");
    // Idempotency keys live in the owner's scope: a producer token's own, or the shared one of
    // admin tokens (ownerOf is null for them) and library calls.
    const owner = ownerOf(c);
    const inputs = bodies.map((b, i) => {
      const input = toEnqueueInput(b, token.name, batch ? i : undefined);
      input.owner = owner;
      return input;
    });
    return await admitted(ctx, inputs, (opts) =>
      timed(
        ctx.series,
        "enqueue",
        () =>
          hasParents(inputs)
            ? enqueueWithParents(sql, inputs, { ...opts, ownedBy: owner })
            : enqueueJobs(sql, inputs, opts),
      ));
  }

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs",
      tags,
      summary: "Enqueue a job",
      middleware: [requireScope("producer")] as const,
      request: jsonBodyOf(EnqueueBody),
      responses: {
        201: jsonContent(JobEnvelope, "the new job"),
        200: jsonContent(JobEnvelope, "an unfinished job with the same idempotencyKey exists"),
        ...errorResponses(404, 413, 415, 422),
      },
    }),
    async (c) => {
      const [res] = await enqueue(c, [c.req.valid("json")]);
      return res!.duplicate
        ? c.json({ job: jobResource(res!.job), duplicate: true }, 200)
        : c.json({ job: jobResource(res!.job) }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/batch",
      tags,
      summary: "Enqueue many jobs at once, all or nothing",
      middleware: [requireScope("producer")] as const,
      request: jsonBodyOf(z.strictObject({ jobs: z.array(EnqueueBody).min(1) })),
      responses: {
        201: jsonContent(
          z.object({ results: z.array(JobEnvelope) }),
          "one result per input, in order",
        ),
        ...errorResponses(404, 413, 415, 422),
      },
    }),
    async (c) => {
      const results = await enqueue(c, c.req.valid("json").jobs);
      return c.json({
        results: results.map((x) => ({ job: jobResource(x.job), duplicate: x.duplicate })),
      }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/jobs",
      tags,
      summary: "List jobs, newest first, with filters and a cursor",
      middleware: [requireScope("read", "producer")] as const,
      request: {
        query: JobFilterQuery.extend({
          before: z.string().optional().openapi({ description: "nextCursor of the last page" }),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({ jobs: z.array(JobSchema), nextCursor: z.string().nullable() }),
          "a page of jobs",
        ),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listJobs(sql, { ...q, ownedBy: ownerOf(c) });
      return c.json({ jobs: page.jobs.map(jobResource), nextCursor: page.nextCursor }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/jobs/count",
      tags,
      summary:
        `The exact number of jobs a filter matches, up to ${MAX_BULK_JOBS} (what a bulk action may act on)`,
      middleware: [requireScope("read", "producer")] as const,
      request: {
        query: JobFilterQuery.extend({
          action: z.enum(BULK_ACTIONS).optional().openapi({
            description: "count only the jobs this bulk action would act on",
          }),
        }),
      },
      responses: {
        200: jsonContent(JobCount, "the count and the newest matching id"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const { action, ...f } = c.req.valid("query");
      const counted = await countJobs(sql, { ...f, ownedBy: ownerOf(c) }, {
        states: action ? BULK_STATES[action] : null,
        // Exact up to what one bulk action may act on; past it the answer is "more than".
        cap: MAX_BULK_JOBS,
      });
      return c.json(counted, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/bulk",
      tags,
      summary:
        `Cancel, retry or discard every job a filter (or a list of ids) matches: all or nothing, at most ${MAX_BULK_JOBS}`,
      middleware: [requireScope()] as const,
      request: jsonBodyOf(z.strictObject({
        action: z.enum(BULK_ACTIONS).openapi({
          description: "cancel: unfinished jobs; retry: dead or cancelled (new linked jobs); " +
            "discard: dead jobs are deleted",
        }),
        filter: JobFilterQuery.extend({
          upTo: z.string().optional().openapi({ description: "upTo of GET /v1/jobs/count" }),
        }).optional(),
        ids: z.array(z.string()).min(1).max(MAX_BULK_JOBS).optional(),
      })),
      responses: {
        200: jsonContent(
          z.object({
            action: z.enum(BULK_ACTIONS),
            count: z.number().int().openapi({ description: "jobs acted on, exactly" }),
            jobIds: z.array(z.string()),
            retried: z.array(z.object({ jobId: z.string(), newJobId: z.string() })),
          }),
          "what was done",
        ),
        ...errorResponses(404, 413, 415),
      },
    }),
    async (c) => {
      const { action, filter, ids } = c.req.valid("json");
      if (!filter && !ids) {
        throw new SluiceError("VALIDATION_FAILED", "give a filter or ids", {
          issues: [{ path: "filter", message: "a filter or ids is required", code: "custom" }],
        });
      }
      const done = await bulkAct(sql, action, { filter, ids }, { createdBy: c.get("token").name });
      ctx.log.info("jobs_bulk", { action, count: done.count, token: c.get("token").name });
      return c.json(done, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{id}",
      tags,
      summary: "Get a job",
      middleware: [requireScope("read", "producer")] as const,
      request: { params: IdParam },
      responses: { 200: jsonContent(JobEnvelope, "the job"), ...errorResponses(404) },
    }),
    async (c) => {
      const job = await getJob(sql, jobIdOf(c.req.valid("param").id), { ownedBy: ownerOf(c) });
      return c.json({ job: jobResource(job) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{id}/timeline",
      tags,
      summary: "Every transition of a job with time, worker and attempt",
      middleware: [requireScope("read", "producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(
          z.object({
            job: JobSchema,
            timeline: z.array(z.object({
              at: z.string(),
              event: z.string(),
              attempt: z.number(),
              workerId: z.string().nullable(),
              detail: z.record(z.string(), z.unknown()),
            })),
          }),
          "the timeline, oldest first",
        ),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const { job, timeline } = await jobTimeline(sql, jobIdOf(c.req.valid("param").id), {
        ownedBy: ownerOf(c),
      });
      return c.json({ job: jobResource(job), timeline }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/jobs/{id}/explain",
      tags,
      summary: "Why a job is where it is: a code, one sentence and the facts",
      middleware: [requireScope("read", "producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(
          z.object({
            job: JobSchema,
            code: z.string().openapi({ example: "QUEUE_PAUSED" }),
            sentence: z.string(),
            facts: z.record(z.string(), z.unknown()),
          }),
          "the explanation",
        ),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const { job, explain } = await explainJob(sql, jobIdOf(c.req.valid("param").id), {
        ownedBy: ownerOf(c),
        defaults,
      });
      return c.json({ job: jobResource(job), ...explain }, 200);
    },
  );

  const rerun = (
    path: "retry" | "replay",
    summary: string,
    fn: typeof retryJob,
  ) =>
    r.openapi(
      createRoute({
        method: "post",
        path: `/jobs/{id}/${path}`,
        tags,
        summary,
        middleware: [requireScope("producer")] as const,
        request: { params: IdParam },
        responses: {
          201: jsonContent(z.object({ job: JobSchema }), "the new job, linked by retryOf"),
          ...errorResponses(404, 409),
        },
      }),
      async (c) => {
        const token = c.get("token");
        const job = await fn(sql, jobIdOf(c.req.valid("param").id), {
          createdBy: token.name,
          ownedBy: ownerOf(c),
        });
        return c.json({ job: jobResource(job) }, 201);
      },
    );
  rerun(
    "retry",
    "Re-run a dead or cancelled job as a new linked job (409 NOT_RETRYABLE)",
    retryJob,
  );
  rerun("replay", "Re-run any finished job as a new linked job", replayJob);

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/{id}/run-now",
      tags,
      summary: "Make a scheduled or retrying job available now (409 CONFLICT otherwise)",
      middleware: [requireScope("producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ job: JobSchema }), "the job, available"),
        ...errorResponses(404, 409),
      },
    }),
    async (c) => {
      const job = await runJobNow(sql, jobIdOf(c.req.valid("param").id), { ownedBy: ownerOf(c) });
      return c.json({ job: jobResource(job) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/{id}/cancel",
      tags,
      summary: "Cancel an unfinished job (a running one is aborted at its next heartbeat)",
      middleware: [requireScope("producer")] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ job: JobSchema }), "the job after cancellation"),
        ...errorResponses(404, 409),
      },
    }),
    async (c) => {
      const job = await cancelJob(sql, jobIdOf(c.req.valid("param").id), { createdBy: ownerOf(c) });
      return c.json({ job: jobResource(job) }, 200);
    },
  );

  return r;
}

/** Ids are digit strings; anything else names no job (404, like an unknown id), never a SQL error. */
export function jobIdOf(id: string): string {
  if (!isJobId(id)) throw jobNotFound(id);
  return id;
}
