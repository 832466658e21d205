/** `/v1/ops/history`: every queue's sampled depth and throughput, for the ops page charts. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  HISTORY_SAMPLE_MS,
  HISTORY_WINDOWS,
  type HistoryWindow,
  queueHistory,
} from "../queue/history.ts";
import { cachedFor } from "./_cache.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonContent } from "./schemas.ts";

const Point = z.object({
  at: z.string(),
  waiting: z.number().openapi({ description: "most jobs waiting in the bucket" }),
  running: z.number(),
  succeeded: z.number().openapi({ description: "finished in the bucket" }),
  dead: z.number(),
});

/**
 * Every open ops page polls every 5 s: a day of 100 queues is 144,000 rows (~300 ms to bucket
 * on a loaded 2-core machine), so each process asks at most once per 5 s per window.
 */
const CACHE_MS = 5_000;

export function historyRouter(ctx: ApiContext) {
  const r = newRouter();
  const history = cachedFor(CACHE_MS, (w: HistoryWindow) => queueHistory(ctx.sql, w));
  r.openapi(
    createRoute({
      method: "get",
      path: "/ops/history",
      tags: ["ops"],
      summary: `Per queue depth and throughput, sampled every ${
        HISTORY_SAMPLE_MS / 1000
      } s by maintenance and kept a day`,
      middleware: [requireScope("read")] as const,
      request: {
        query: z.strictObject({
          window: z.enum(Object.keys(HISTORY_WINDOWS) as ["1h", "24h"]).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({
            window: z.string(),
            windowMs: z.number(),
            bucketMs: z.number(),
            queues: z.array(z.object({ name: z.string(), points: z.array(Point) })),
          }),
          "per queue, oldest point first; a queue with no sample in the window is absent",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const window = c.req.valid("query").window ?? "1h";
      return c.json({ window, ...(await history(window)) }, 200);
    },
  );
  return r;
}
