/** `/v1/workers`: workers seen recently, with their state and the jobs they run now. */
import { createRoute, z } from "@hono/zod-openapi";
import { listWorkers, requestWorkerQuiet } from "../queue/workers.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonContent } from "./schemas.ts";

const Worker = z.object({
  id: z.string(),
  kind: z.enum(["process", "pull"]).openapi({
    description: "process: sluice worker; pull: an external program leasing a pull queue",
  }),
  host: z.string(),
  pid: z.number(),
  queues: z.array(z.string()),
  concurrency: z.number(),
  version: z.string(),
  metricsAddr: z.string().nullable(),
  startedAt: z.string(),
  lastSeenAt: z.string(),
  stoppedAt: z.string().nullable(),
  quietRequestedAt: z.string().nullable().openapi({
    description: "an operator asked it to quiet down: it leases no more and stops when done",
  }),
  state: z.enum(["online", "stale", "stopped"]),
  runningJobIds: z.array(z.string()),
  heldJobIds: z.array(z.string()).openapi({
    description: "jobs leased into the worker's prefetch buffer that have not started",
  }),
  stalled: z.string().nullable().openapi({
    description:
      "why an online worker looks stuck (holds more than it runs, runs more than its concurrency)",
  }),
}).openapi("Worker");

export function workersRouter(ctx: ApiContext) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: "get",
      path: "/workers",
      tags: ["workers"],
      summary: "Workers seen in the last day",
      middleware: [requireScope("read")] as const,
      responses: {
        200: jsonContent(z.object({ workers: z.array(Worker) }), "workers, online first"),
        ...errorResponses(),
      },
    }),
    async (c) => c.json({ workers: await listWorkers(ctx.sql) }, 200),
  );
  r.openapi(
    createRoute({
      method: "post",
      path: "/workers/{id}/quiet",
      tags: ["workers"],
      summary:
        "Quiet a worker: it leases no more, finishes its running jobs (within its shutdown grace) and stops",
      middleware: [requireScope()] as const,
      request: {
        params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) }),
      },
      responses: {
        200: jsonContent(z.object({ worker: Worker }), "the worker, quiet requested"),
        ...errorResponses(404, 409),
      },
    }),
    async (c) => {
      const worker = await requestWorkerQuiet(ctx.sql, c.req.valid("param").id);
      ctx.log.info("worker_quiet_requested", { worker_id: worker.id, by: c.get("token").name });
      return c.json({ worker }, 200);
    },
  );
  return r;
}
