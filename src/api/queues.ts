/** Queues: list with counts, get, create, update policies, pause, resume, drain. */
import { createRoute, z } from "@hono/zod-openapi";
import { countUnfinishedByState, drainQueue } from "../queue/drain.ts";
import { assertDestinationAllowed, destinationRules } from "../delivery/destination.ts";
import { emptyCounts } from "../queue/inspect.ts";
import {
  createQueue,
  getQueue,
  listQueues,
  type QueuePolicy,
  setQueuePaused,
  updateQueuePolicy,
} from "../queue/queues.ts";
import { revealsSecrets } from "./_reveal.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import {
  CountsSchema,
  errorResponses,
  jsonBodyOf,
  jsonContent,
  QueueCreateBody,
  QueuePatchBody,
  queueResource,
  QueueSchema,
  toQueuePolicy,
} from "./schemas.ts";

const NameParam = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" } }) });
const QueueEnvelope = z.object({ queue: QueueSchema, counts: CountsSchema.optional() });
const tags = ["queues"];
const ALL = ["read", "producer", "worker"] as const;

export function queuesRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql, defaults } = ctx;
  // Queue writes are admin-only (requireScope() below), which is what http delivery needs: only
  // admins choose where jobs are sent. The destination is checked at save and again at send.
  const checkDestination = async (p: QueuePolicy) => {
    if (p.delivery?.mode === "http") {
      await assertDestinationAllowed(p.delivery.url, destinationRules(ctx.config));
    }
  };

  r.openapi(
    createRoute({
      method: "get",
      path: "/queues",
      tags,
      summary: "List queues with their effective policies and job counts by state",
      middleware: [requireScope(...ALL)] as const,
      responses: {
        200: jsonContent(
          z.object({
            queues: z.array(QueueSchema.extend({
              counts: CountsSchema,
              oldestWaitingMs: z.number().nullable().openapi({
                description: "age of the oldest runnable job (since it became due); null if none",
              }),
              oldestWaitingAt: z.string().nullable().openapi({
                description: "when that job became due",
              }),
            })),
            finishedCountedAt: z.string().nullable().openapi({
              description:
                "succeeded and cancelled counts are as of this time (maintenance counts them at most once a minute); the other states are live",
            }),
          }),
          "every queue",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      // The same cheap counts as the metrics (src/obs/db_gauges.ts): unfinished states through
      // their partial indexes, finished ones from the maintenance snapshot; a live count of
      // every job was a full scan, ~10x slower at 1M jobs. Read anew: a caller sees its writes.
      const [queues, facts] = await Promise.all([
        listQueues(sql, defaults),
        ctx.gauges.facts(0),
      ]);
      const at = facts.at.getTime();
      return c.json({
        queues: queues.map((q) => {
          const g = facts.queues.get(q.name);
          const age = g?.oldestAvailableSeconds ?? null;
          return {
            ...queueResource(q, revealsSecrets(c)),
            counts: g?.counts ?? emptyCounts(),
            oldestWaitingMs: age === null ? null : Math.round(age * 1000),
            oldestWaitingAt: age === null ? null : new Date(at - age * 1000).toISOString(),
          };
        }),
        finishedCountedAt: facts.finishedCountedAt?.toISOString() ?? null,
      }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/queues/{name}",
      tags,
      summary: "Get a queue with its unfinished job counts",
      middleware: [requireScope(...ALL)] as const,
      request: { params: NameParam },
      responses: { 200: jsonContent(QueueEnvelope, "the queue"), ...errorResponses(404) },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const queue = await getQueue(sql, name, defaults);
      return c.json({
        queue: queueResource(queue, revealsSecrets(c)),
        counts: await countUnfinishedByState(sql, name),
      }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/queues",
      tags,
      summary: "Create a queue; omitted policies take the environment defaults, null = no limit",
      middleware: [requireScope()] as const,
      request: jsonBodyOf(QueueCreateBody),
      responses: {
        201: jsonContent(QueueEnvelope, "the new queue"),
        ...errorResponses(409, 415),
      },
    }),
    async (c) => {
      const { name, paused, ...fields } = c.req.valid("json");
      const policy = toQueuePolicy(fields);
      await checkDestination(policy);
      const queue = await sql.begin(async (tx) => {
        const q = await createQueue(tx, name, policy, defaults);
        return paused ? await setQueuePaused(tx, name, true, defaults) : q;
      });
      return c.json({ queue: queueResource(queue, revealsSecrets(c)) }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "patch",
      path: "/queues/{name}",
      tags,
      summary: "Change some policies of a queue; fields left out keep their value",
      middleware: [requireScope()] as const,
      request: { params: NameParam, ...jsonBodyOf(QueuePatchBody) },
      responses: {
        200: jsonContent(QueueEnvelope, "the queue after the change"),
        ...errorResponses(404, 415),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const { paused, ...fields } = c.req.valid("json");
      const policy = toQueuePolicy(fields);
      await checkDestination(policy);
      const queue = await sql.begin(async (tx) => {
        const q = await updateQueuePolicy(tx, name, policy, defaults);
        return paused === undefined ? q : await setQueuePaused(tx, name, paused, defaults);
      });
      return c.json({ queue: queueResource(queue, revealsSecrets(c)) }, 200);
    },
  );

  const toggle = (action: "pause" | "resume") =>
    r.openapi(
      createRoute({
        method: "post",
        path: `/queues/{name}/${action}`,
        tags,
        summary: action === "pause"
          ? "Pause a queue: nothing new starts, enqueues are still accepted"
          : "Resume a paused queue; a draining one accepts enqueues again",
        middleware: [requireScope()] as const,
        request: { params: NameParam },
        responses: { 200: jsonContent(QueueEnvelope, "the queue"), ...errorResponses(404) },
      }),
      async (c) => {
        const q = await setQueuePaused(
          sql,
          c.req.valid("param").name,
          action === "pause",
          defaults,
        );
        return c.json({ queue: queueResource(q, revealsSecrets(c)) }, 200);
      },
    );
  toggle("pause");
  toggle("resume");

  r.openapi(
    createRoute({
      method: "post",
      path: "/queues/{name}/drain",
      tags,
      summary:
        "Pause a queue and report whether its running jobs have finished (call again to poll); with ?refuseNew=true refuse enqueues instead and keep processing to zero",
      middleware: [requireScope()] as const,
      request: {
        params: NameParam,
        query: z.strictObject({
          refuseNew: z.enum(["true", "false"]).optional().openapi({
            description:
              "refuse new enqueues (409 QUEUE_DRAINING) and keep processing; resume undoes it",
          }),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({ queue: QueueSchema, counts: CountsSchema, drained: z.boolean() }),
          "drained is true once nothing runs (with refuseNew: once nothing is unfinished)",
        ),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const s = await drainQueue(sql, c.req.valid("param").name, defaults, {
        refuseNew: c.req.valid("query").refuseNew === "true",
      });
      return c.json({
        queue: queueResource(s.queue, revealsSecrets(c)),
        counts: s.counts,
        drained: s.drained,
      }, 200);
    },
  );

  return r;
}
