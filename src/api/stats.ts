/** `/v1/stats/throughput`: finished jobs and failed attempts per minute, for the ops page charts. */
import { createRoute, z } from "@hono/zod-openapi";
import { jobThroughput, type Throughput } from "../queue/throughput.ts";
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
  const cache = new Map<string, { at: number; value: Promise<Throughput> }>();
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
      const now = Date.now();
      let hit = cache.get(window);
      if (!hit || now - hit.at > CACHE_MS) {
        hit = { at: now, value: jobThroughput(ctx.sql, { windowMs: WINDOWS[window] }) };
        cache.set(window, hit);
        hit.value.catch(() => cache.delete(window));
      }
      const t = await hit.value;
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
