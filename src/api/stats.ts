/** `/v1/stats/throughput`: finished jobs and failed attempts per minute, for the ops page charts. */
import { createRoute, z } from "@hono/zod-openapi";
import { jobThroughput } from "../queue/throughput.ts";
import { cachedFor } from "./_cache.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonContent } from "./schemas.ts";

/** Every open ops page polls this: one bounded query per window per process every few seconds. */
const CACHE_MS = 5_000;
const WINDOWS = { "15m": 900_000, "1h": 3_600_000, "6h": 21_600_000 } as const;

const Bucket = z.object({
  at: z.string(),
  succeeded: z.number(),
  dead: z.number(),
  failed: z.number(),
});

export function statsRouter(ctx: ApiContext) {
  const r = newRouter();
  const throughput = cachedFor(
    CACHE_MS,
    (w: keyof typeof WINDOWS) => jobThroughput(ctx.sql, { windowMs: WINDOWS[w] }),
  );
  r.openapi(
    createRoute({
      method: "get",
      path: "/stats/throughput",
      tags: ["stats"],
      summary:
        "Finished jobs and failed attempts per minute over a recent window (the newest 100,000 jobs at most)",
      middleware: [requireScope("read")] as const,
      request: {
        query: z.strictObject({ window: z.enum(["15m", "1h", "6h"]).optional() }),
      },
      responses: {
        200: jsonContent(
          z.object({
            window: z.string(),
            bucketSeconds: z.number(),
            buckets: z.array(Bucket),
            scanned: z.number(),
            coversWindow: z.boolean(),
          }),
          "per-minute buckets, oldest first; empty minutes are absent",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const window = c.req.valid("query").window ?? "1h";
      const t = await throughput(window);
      return c.json({
        window,
        bucketSeconds: t.bucketMs / 1000,
        buckets: t.buckets,
        scanned: t.scanned,
        coversWindow: t.coversWindow,
      }, 200);
    },
  );
  return r;
}
