/**
 * `GET /metrics` (a JSON snapshot: src/obs/snapshot.ts) and `GET /metrics/prom` (Prometheus
 * text). Outside `/v1` like the health probes, but not open: they need a `read` token (or
 * admin) unless SLUICE_METRICS_PUBLIC=true, because queue names and alert names are facts about
 * the deployment.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { PROMETHEUS_CONTENT_TYPE, render } from "../obs/prometheus.ts";
import { metricsSnapshot } from "../obs/snapshot.ts";
import { authenticate, requireScope } from "./auth.ts";
import { type ApiContext, type Env, newRouter } from "./deps.ts";
import { errorResponses, jsonContent } from "./schemas.ts";

const QueueFacts = z.object({
  counts: z.record(z.string(), z.number()),
  dlqDepth: z.number(),
  oldestAvailableSeconds: z.number().nullable(),
});

const Snapshot = z.object({
  at: z.string(),
  window: z.literal("1m"),
  jobsPerSec: z.number(),
  retryRate: z.number(),
  runnableQueueDepth: z.number(),
  queues: z.record(z.string(), QueueFacts),
  workers: z.number(),
  alertsFiring: z.array(z.string()),
  metrics: z.record(z.string(), z.unknown()).optional(),
}).openapi("MetricsSnapshot");

export function metricsRouter(ctx: ApiContext) {
  const r = newRouter();
  const open = ctx.config.metricsPublic;
  const guard: MiddlewareHandler<Env>[] = open ? [] : [authenticate(ctx), requireScope("read")];
  const security = open ? { security: [] } : {};
  const tags = ["metrics"];

  r.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags,
      summary:
        "The metrics as JSON, with jobsPerSec, retryRate and runnableQueueDepth over the last minute",
      description: "Needs a read token unless SLUICE_METRICS_PUBLIC=true.",
      ...security,
      middleware: guard,
      responses: { 200: jsonContent(Snapshot, "a snapshot"), ...errorResponses() },
    }),
    async (c) => {
      await ctx.registry.collect();
      const snap = await metricsSnapshot(ctx.sql, {
        facts: await ctx.gauges.facts(),
        registry: ctx.registry,
      });
      return c.json(snap, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/metrics/prom",
      tags,
      summary: "Prometheus text exposition (format 0.0.4)",
      description: "Needs a read token unless SLUICE_METRICS_PUBLIC=true.",
      ...security,
      middleware: guard,
      responses: {
        200: {
          description: "every series of this process",
          content: { [PROMETHEUS_CONTENT_TYPE]: { schema: z.string() } },
        },
        ...errorResponses(),
      },
    }),
    async (c) => {
      const text = render(await ctx.registry.collect());
      return c.text(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
    },
  );
  return r;
}
