/** The dead-letter queue: browse with counts by reason, replay by ids or by filter. */
import { createRoute, z } from "@hono/zod-openapi";
import { SluiceError } from "../errors.ts";
import {
  listDeadJobs,
  listDeadLetterGroups,
  MAX_REPLAY_PER_CALL,
  replayDeadLetters,
} from "../queue/dlq.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import {
  errorResponses,
  inTimestampRange,
  jobResource,
  JobSchema,
  jsonBodyOf,
  jsonContent,
} from "./schemas.ts";

/** Most dead jobs one replay call re-runs: bounded work per request; call again for more. */
export const DLQ_REPLAY_MAX = MAX_REPLAY_PER_CALL;
const tags = ["dlq"];

const Time = z.string().optional().openapi({ example: "2026-01-01T00:00:00Z" });
const Filter = {
  queue: z.string().optional(),
  reason: z.string().optional().openapi({ example: "DEAD_MAX_ATTEMPTS" }),
  kind: z.string().optional(),
  since: Time,
  until: Time,
};

function time(field: string, v: string | undefined): Date | null {
  if (v === undefined) return null;
  const d = new Date(v);
  if (!/\d{4}-\d{2}-\d{2}/.test(v) || !inTimestampRange(d)) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `'${field}': ${JSON.stringify(v)} is not a timestamp`,
      {
        issues: [{ path: field, message: "not a timestamp", code: "invalid_format" }],
      },
    );
  }
  return d;
}

/** A filter's time bounds parsed (a bad one is a 400 naming the field). */
function timed<T extends { since?: string; until?: string }>(q: T) {
  return { ...q, since: time("since", q.since), until: time("until", q.until) };
}

export function dlqRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql } = ctx;

  r.openapi(
    createRoute({
      method: "get",
      path: "/dlq",
      tags,
      summary: "Dead jobs, newest first, and their counts by dead reason under the same filter",
      middleware: [requireScope("read")] as const,
      request: {
        query: z.strictObject({
          ...Filter,
          before: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({
            jobs: z.array(JobSchema),
            nextCursor: z.string().nullable(),
            counts: z.record(z.string(), z.number()),
            replays: z.record(z.string(), z.string()).openapi({
              description: "dead job id → its newest re-run's id, for the jobs of this page",
            }),
          }),
          "a page of dead jobs",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const page = await listDeadJobs(sql, timed(c.req.valid("query")));
      return c.json({ ...page, jobs: page.jobs.map(jobResource) }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/dlq/groups",
      tags,
      summary: "Dead jobs counted by queue and dead reason, with how many are not replayed yet",
      middleware: [requireScope("read")] as const,
      request: { query: z.strictObject(Filter) },
      responses: {
        200: jsonContent(
          z.object({
            groups: z.array(z.object({
              queue: z.string(),
              reason: z.string(),
              count: z.number(),
              unreplayed: z.number().openapi({
                description: "dead jobs of the group with no re-run: what a replay by filter picks",
              }),
              oldest: z.string(),
              newest: z.string(),
            })),
          }),
          "the groups, largest first",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const groups = await listDeadLetterGroups(sql, timed(c.req.valid("query")));
      return c.json({ groups }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/dlq/replay",
      tags,
      summary:
        `Re-run dead jobs as new linked jobs, by ids or by filter (at most ${DLQ_REPLAY_MAX} per call)`,
      middleware: [requireScope()] as const,
      request: jsonBodyOf(z.strictObject({
        ids: z.array(z.string()).min(1).max(DLQ_REPLAY_MAX).optional(),
        ...Filter,
        limit: z.number().int().min(1).max(DLQ_REPLAY_MAX).optional(),
      })),
      responses: {
        200: jsonContent(
          z.object({
            replayed: z.array(z.object({
              jobId: z.string(),
              newJobId: z.string(),
              queue: z.string(),
              reason: z.string().nullable(),
            })),
            count: z.number(),
            remaining: z.number(),
            skipped: z.array(z.string()),
            more: z.boolean(),
          }),
          "what was replayed; remaining/more: dead jobs still matching the filter (call again)",
        ),
        ...errorResponses(413, 415),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const { ids, limit = DLQ_REPLAY_MAX, ...f } = b;
      const filtered = Object.values(f).some((v) => v !== undefined);
      if (ids && filtered) {
        throw new SluiceError("VALIDATION_FAILED", "give either ids or a filter, not both");
      }
      const out = await replayDeadLetters(sql, {
        ...(ids ? { ids } : timed(f)),
        limit: ids ? Math.max(limit, ids.length) : limit,
        createdBy: c.get("token").name,
      });
      return c.json({
        replayed: out.replayed.map((r) => ({
          jobId: r.id,
          newJobId: r.newId,
          queue: r.queue,
          reason: r.reason,
        })),
        count: out.replayed.length,
        remaining: out.remaining,
        skipped: out.skipped,
        more: out.remaining > 0,
      }, 200);
    },
  );

  return r;
}
