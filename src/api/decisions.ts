/** `/v1/ingest/decisions`: every denied enqueue with its code, queue and token. */
import { createRoute, z } from "@hono/zod-openapi";
import { listDecisions } from "../queue/decisions.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, inTimestampRange, jsonContent } from "./schemas.ts";

const Decision = z.object({
  id: z.string(),
  at: z.string(),
  queue: z.string().nullable(),
  code: z.string().openapi({ example: "QUEUE_FULL" }),
  detail: z.string(),
  tokenName: z.string().nullable(),
}).openapi("PolicyDecision");

export function decisionsRouter(ctx: ApiContext) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: "get",
      path: "/ingest/decisions",
      tags: ["ingest"],
      summary: "Denied enqueues, newest first",
      middleware: [requireScope("read")] as const,
      request: {
        query: z.strictObject({
          queue: z.string().optional(),
          code: z.string().optional(),
          token: z.string().optional(),
          since: z.string().datetime({ offset: true })
            .refine((v) => inTimestampRange(new Date(v)), "outside the years 0001–9999")
            .optional(),
          before: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({ decisions: z.array(Decision), nextCursor: z.string().nullable() }),
          "a page of decisions",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listDecisions(ctx.sql, {
        queue: q.queue,
        code: q.code,
        tokenName: q.token,
        since: q.since ? new Date(q.since) : null,
        before: q.before,
        limit: q.limit,
      });
      return c.json(page, 200);
    },
  );
  return r;
}
