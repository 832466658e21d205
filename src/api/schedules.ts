/**
 * `/v1/schedules`: cron schedules (src/queue/schedules.ts) over HTTP, the same verbs as
 * `sluice schedule …`. Reading needs `read`; creating, pausing, resuming and deleting need
 * `admin` (a schedule enqueues jobs on its own, forever).
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  runScheduleNow,
  setSchedulePaused,
} from "../queue/schedules.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonBodyOf, jsonContent } from "./schemas.ts";

const tags = ["schedules"];
const NameParam = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" } }) });

const ScheduleSchema = z.object({
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  queue: z.string(),
  kind: z.string(),
  payload: z.unknown(),
  missed: z.enum(["skip", "once"]),
  paused: z.boolean(),
  nextSlot: z.string().nullable().openapi({ description: "the next firing; null when paused" }),
  lastSlot: z.string().nullable(),
  lastJobId: z.string().nullable(),
  lastFiredAt: z.string().nullable(),
  lastError: z.string().nullable().openapi({
    description: "why the last slot could not fire (e.g. QUEUE_NOT_FOUND: …); null while it fires",
  }),
  failingSince: z.string().nullable().openapi({
    description: "first failed slot since the last one that fired; null while it fires",
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Schedule");

const ScheduleCreateBody = z.strictObject({
  name: z.string().openapi({ example: "nightly-report" }),
  cron: z.string().max(200).openapi({
    example: "0 3 * * *",
    description: "5 fields, or 6 with seconds first",
  }),
  timezone: z.string().max(64).optional().openapi({
    example: "Europe/Berlin",
    description: "IANA time zone; default UTC",
  }),
  queue: z.string().optional().openapi({ description: "default: default" }),
  kind: z.string(),
  payload: z.record(z.string(), z.unknown()).optional().openapi({ description: "default {}" }),
  missed: z.enum(["skip", "once"]).optional().openapi({
    description:
      "slots missed while maintenance was down: skip them or run once; default SLUICE_SCHEDULE_MISSED",
  }),
  paused: z.boolean().optional(),
}).openapi("ScheduleCreateRequest");

const Envelope = z.object({ schedule: ScheduleSchema });

export function schedulesRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql } = ctx;

  r.openapi(
    createRoute({
      method: "get",
      path: "/schedules",
      tags,
      summary: "List cron schedules with their next and last slot",
      middleware: [requireScope("read")] as const,
      responses: {
        200: jsonContent(z.object({ schedules: z.array(ScheduleSchema) }), "by name"),
        ...errorResponses(),
      },
    }),
    async (c) => c.json({ schedules: await listSchedules(sql) }, 200),
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/schedules",
      tags,
      summary: "Create a cron schedule (fires once per slot across all maintenance processes)",
      middleware: [requireScope()] as const,
      request: jsonBodyOf(ScheduleCreateBody),
      responses: {
        201: jsonContent(Envelope, "the new schedule"),
        ...errorResponses(404, 409, 413, 415),
      },
    }),
    async (c) => {
      const schedule = await createSchedule(sql, c.req.valid("json"), {
        defaults: ctx.defaults,
        missedDefault: ctx.config.scheduleMissed,
      });
      return c.json({ schedule }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/schedules/{name}",
      tags,
      summary: "Get one schedule",
      middleware: [requireScope("read")] as const,
      request: { params: NameParam },
      responses: { 200: jsonContent(Envelope, "the schedule"), ...errorResponses(404) },
    }),
    async (c) => c.json({ schedule: await getSchedule(sql, c.req.valid("param").name) }, 200),
  );

  for (const action of ["pause", "resume"] as const) {
    r.openapi(
      createRoute({
        method: "post",
        path: `/schedules/{name}/${action}`,
        tags,
        summary: action === "pause"
          ? "Pause a schedule (the row stays)"
          : "Resume a schedule from the next slot after now (missed slots are not replayed)",
        middleware: [requireScope()] as const,
        request: { params: NameParam },
        responses: { 200: jsonContent(Envelope, "the schedule"), ...errorResponses(404) },
      }),
      async (c) => {
        const name = c.req.valid("param").name;
        return c.json({ schedule: await setSchedulePaused(sql, name, action === "pause") }, 200);
      },
    );
  }

  r.openapi(
    createRoute({
      method: "post",
      path: "/schedules/{name}/run",
      tags,
      summary: "Run a schedule now, once, outside its cron (its next slot is unchanged)",
      middleware: [requireScope()] as const,
      request: { params: NameParam },
      responses: {
        201: jsonContent(
          Envelope.extend({ jobId: z.string().openapi({ description: "the job it enqueued" }) }),
          "the schedule and the new job",
        ),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const name = c.req.valid("param").name;
      const out = await runScheduleNow(sql, name, { defaults: ctx.defaults });
      ctx.log.info("schedule_run_now", { schedule: name, job_id: out.jobId });
      return c.json(out, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "delete",
      path: "/schedules/{name}",
      tags,
      summary: "Delete a schedule; jobs it already enqueued are kept",
      middleware: [requireScope()] as const,
      request: { params: NameParam },
      responses: {
        200: jsonContent(z.object({ deleted: z.string() }), "the deleted schedule's name"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const name = c.req.valid("param").name;
      await deleteSchedule(sql, name);
      return c.json({ deleted: name }, 200);
    },
  );
  return r;
}
