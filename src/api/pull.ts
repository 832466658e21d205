/**
 * Pull workers: external programs in any language lease jobs of a `pull` queue over HTTP and
 * report heartbeats and outcomes, each fenced by the attempt and lease token they were given.
 * The lease token is the attempt's random secret; reports are accepted only for leases taken
 * here (scope `via: "pull"`), so a worker-scope token can never finish a job that a built-in
 * worker runs, whatever it knows.
 */
import { parentResults } from "../queue/dependencies.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { SluiceError } from "../errors.ts";
import { backoffDelayMs } from "../queue/backoff.ts";
import { getJob } from "../queue/inspect.ts";
import { leaseJobs } from "../queue/lease.ts";
import {
  completeJob,
  failJob,
  type FenceScope,
  heartbeatJobs,
  LEASE_TOKEN,
  staleLease,
} from "../queue/outcome.ts";
import { getQueue } from "../queue/queues.ts";
import { pullWorkerSightings } from "../queue/workers.ts";
import { showDuration } from "../config/parse.ts";
import { requireScope } from "./auth.ts";
import { clientIp } from "./client_ip.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { jobIdOf } from "./jobs.ts";
import {
  durationField,
  errorResponses,
  IdParam,
  jobResource,
  JobSchema,
  jsonBodyOf,
  jsonContent,
} from "./schemas.ts";

const tags = ["pull"];
const MAX_LEASE_S = 3_600;

// A string the lease handed out; a well-formed wrong one is 409 STALE_LEASE, never a 500.
const LeaseToken = z.string().regex(LEASE_TOKEN, "the leaseToken the lease returned")
  .openapi({ example: "Jb0rW5y0a8Gm2kq8Vt1fQe3sXn7uYc4dHz6pLo9iA-_" });
const Fence = {
  attempt: z.number().int().min(1).max(2_147_483_647),
  leaseToken: LeaseToken,
};
const PULL: FenceScope = { via: "pull" };

const LeasedJob = z.object({
  id: z.string(),
  queue: z.string(),
  kind: z.string(),
  payload: z.unknown(),
  attempt: z.number(),
  maxAttempts: z.number(),
  leaseToken: z.string().openapi({
    description: "the attempt's secret: send it with every report",
  }),
  fencingToken: z.string().openapi({
    description: "a number (decimal string) that grows with every lease, to order attempts",
  }),
  leaseExpiresAt: z.string(),
  timeout: z.string().nullable(),
  priority: z.number(),
  tags: z.array(z.string()),
  idempotencyKey: z.string().nullable(),
  createdAt: z.string(),
  parents: z.array(z.object({
    id: z.string(),
    key: z.string().nullable(),
    state: z.string(),
    result: z.unknown(),
  })).optional().openapi({
    description: "a job that waited for parents (dependsOn, workflow): their states and results",
  }),
}).openapi("LeasedJob");

export function pullRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql, defaults } = ctx;
  const defaultLeaseS = Math.max(1, Math.round(ctx.config.leaseMs / 1000));
  // Pull workers are listed and watched like any worker (src/queue/workers.ts).
  const seen = pullWorkerSightings(sql);

  r.openapi(
    createRoute({
      method: "post",
      path: "/queues/{queue}/lease",
      tags,
      summary: "Lease up to max available jobs of a pull queue",
      middleware: [requireScope("worker")] as const,
      request: {
        params: z.object({ queue: z.string().openapi({ param: { name: "queue", in: "path" } }) }),
        ...jsonBodyOf(z.strictObject({
          max: z.number().int().min(1).max(100).default(1),
          leaseSeconds: z.number().int().min(1).max(MAX_LEASE_S).optional(),
          workerId: z.string().min(1).max(128).optional(),
        })),
      },
      responses: {
        200: jsonContent(z.object({ jobs: z.array(LeasedJob) }), "leased jobs (maybe none)"),
        ...errorResponses(404, 409, 415),
      },
    }),
    async (c) => {
      const { queue: name } = c.req.valid("param");
      const b = c.req.valid("json");
      const queue = await getQueue(sql, name, defaults);
      if (queue.effective.delivery.mode !== "pull") {
        throw new SluiceError(
          "CONFLICT",
          `queue '${name}' delivers by '${queue.effective.delivery.mode}', not 'pull': set its delivery mode to pull first`,
          { queue: name, mode: queue.effective.delivery.mode },
        );
      }
      const workerId = b.workerId ?? `pull:${c.get("token").name}`;
      await seen.leased({
        id: workerId,
        queue: name,
        host: clientIp(c, ctx),
        version: (c.req.header("user-agent") ?? "").slice(0, 64),
        max: b.max,
      });
      const leased = await leaseJobs(sql, {
        queue: name,
        workerId,
        via: "pull",
        max: b.max,
        leaseMs: (b.leaseSeconds ?? defaultLeaseS) * 1000,
        concurrency: queue.effective.concurrency,
        rateLimit: queue.effective.rateLimit,
        keyConcurrency: queue.effective.keyConcurrency,
        tokens: ctx.engine.leaseTokens,
      });
      // One more query only when a leased job had parents (rare on a plain queue).
      const parents = await parentResults(
        sql,
        leased.filter((j) => j.hasParents).map((j) => j.id),
      );
      return c.json({
        jobs: leased.map((j) => ({
          id: j.id,
          queue: j.queue,
          kind: j.kind,
          payload: j.payload,
          attempt: j.attempt,
          maxAttempts: j.maxAttempts,
          leaseToken: j.leaseToken,
          fencingToken: j.fencingToken,
          leaseExpiresAt: j.leaseExpiresAt.toISOString(),
          timeout: showDuration(j.timeoutMs ?? queue.effective.timeoutMs),
          priority: j.priority,
          tags: j.tags,
          idempotencyKey: j.idempotencyKey,
          createdAt: j.createdAt.toISOString(),
          ...(j.hasParents ? { parents: parents.get(j.id) ?? [] } : {}),
        })),
      }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/{id}/heartbeat",
      tags,
      summary: "Extend the lease of a running attempt (409 STALE_LEASE when it was lost)",
      description: "Extends to leaseSeconds from now, or without it by the length the lease was " +
        "granted with; never shortens a lease.",
      middleware: [requireScope("worker")] as const,
      request: {
        params: IdParam,
        ...jsonBodyOf(z.strictObject({
          ...Fence,
          leaseSeconds: z.number().int().min(1).max(MAX_LEASE_S).optional(),
        })),
      },
      responses: {
        200: jsonContent(
          z.object({ ok: z.boolean(), cancelRequested: z.boolean() }),
          "cancelRequested: an operator asked to cancel; stop and report a failure",
        ),
        ...errorResponses(404, 409, 415),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const fence = {
        id: jobIdOf(c.req.valid("param").id),
        attempt: b.attempt,
        leaseToken: b.leaseToken,
      };
      const ms = b.leaseSeconds === undefined ? null : b.leaseSeconds * 1000;
      const res = await heartbeatJobs(sql, [fence], ms, PULL);
      if (!res.alive.has(fence.id)) throw staleLease(fence);
      await seen.heartbeat(fence.id);
      return c.json({ ok: true, cancelRequested: res.cancelRequested.has(fence.id) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/{id}/complete",
      tags,
      summary: "Report success of a leased attempt",
      middleware: [requireScope("worker")] as const,
      request: {
        params: IdParam,
        ...jsonBodyOf(z.strictObject({ ...Fence, result: z.unknown().optional() })),
      },
      responses: {
        200: jsonContent(z.object({ job: JobSchema }), "the succeeded job"),
        ...errorResponses(404, 409, 415),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const id = jobIdOf(c.req.valid("param").id);
      await completeJob(sql, {
        id,
        attempt: b.attempt,
        leaseToken: b.leaseToken,
        result: b.result,
      }, PULL);
      return c.json({ job: jobResource(await getJob(sql, id)) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/jobs/{id}/fail",
      tags,
      summary: "Report failure of a leased attempt: retried with backoff, or dead",
      middleware: [requireScope("worker")] as const,
      request: {
        params: IdParam,
        ...jsonBodyOf(z.strictObject({
          ...Fence,
          error: z.strictObject({
            code: z.string().min(1).max(64).default("HANDLER_ERROR"),
            message: z.string().max(2000),
          }),
          retryable: z.boolean().default(true).openapi({ description: "false = dead now" }),
          retryAfter: z.string().optional().openapi({ example: "30s" }),
        })),
      },
      responses: {
        200: jsonContent(
          z.object({
            state: z.enum(["retrying", "available", "dead"]),
            runAt: z.string(),
            deadReason: z.string().nullable(),
          }),
          "where the job went",
        ),
        ...errorResponses(404, 409, 415),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const id = jobIdOf(c.req.valid("param").id);
      const fence = { id, attempt: b.attempt, leaseToken: b.leaseToken };
      const job = await getJob(sql, id);
      const queue = await getQueue(sql, job.queue, defaults);
      const res = await failJob(
        sql,
        fence,
        {
          code: b.error.code,
          message: b.error.message,
          retryable: b.retryable,
          retryAfterMs: b.retryAfter === undefined
            ? null
            : durationField("retryAfter", b.retryAfter),
          workerId: job.workerId,
        },
        backoffDelayMs(b.attempt, queue.effective.backoff),
        PULL,
      );
      return c.json({
        state: res.state,
        runAt: res.runAt.toISOString(),
        deadReason: res.deadReason,
      }, 200);
    },
  );

  return r;
}
