/**
 * Triage views (src/api/triage.ts): `GET /v1/ops/queues` (online|degraded|offline with reasons,
 * the status /health answers too: src/api/status.ts; per-queue counts, oldest waiting age,
 * throughput, workers, scheduler, maintenance, signing) and
 * `GET /v1/ops/alerts` (firing, pending and recent alerts). Every open ops page polls them, so
 * each answer is shared for a couple of seconds per process (one query set in flight at a time).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { opsAlerts } from "./triage.ts";
import { revealsSecrets } from "./_reveal.ts";
import { shared } from "./_shared.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import {
  CountsSchema,
  errorResponses,
  jsonContent,
  policyResource,
  PolicySchema,
} from "./schemas.ts";

import { TelemetryHealth, telemetryHealth } from "./telemetry_health.ts";

const CACHE_MS = 2_000;
const tags = ["ops"];
const Windows = z.object({ "1m": z.number(), "5m": z.number(), "15m": z.number() });

const Rates = z.object({
  jobsPerMinute: z.number().openapi({ description: "jobs finished per minute, last 5 minutes" }),
  failurePercent: z.number().nullable().openapi({
    description: "dead of finished in percent, last 5 minutes; null with nothing finished",
  }),
  p95WaitMs: z.number().nullable().openapi({
    description: "95th percentile of due to started, jobs finished in the last 5 minutes",
  }),
});

const OpsQueues = z.object({
  status: z.enum(["online", "degraded", "offline"]),
  reasons: z.array(z.string()),
  at: z.string(),
  queues: z.array(z.object({
    name: z.string(),
    paused: z.boolean(),
    counts: CountsSchema,
    oldestWaitingSeconds: z.number().nullable(),
    throughput: Windows.openapi({ description: "jobs succeeded in the last 1, 5, 15 minutes" }),
    failures: Windows.openapi({ description: "jobs dead in the last 1, 5, 15 minutes" }),
    rates: Rates,
    workers: z.number().openapi({
      description: "online workers serving this queue's delivery mode (pull workers for pull)",
    }),
    policy: PolicySchema,
  })),
  totals: Rates.openapi({ description: "every queue together" }),
  workers: z.array(z.object({
    id: z.string(),
    kind: z.enum(["process", "pull"]),
    host: z.string(),
    state: z.string(),
    queues: z.array(z.string()),
    concurrency: z.number(),
    runningJobIds: z.array(z.string()),
    heldJobIds: z.array(z.string()),
    stalled: z.string().nullable().openapi({
      description: "why an online worker looks stuck; counted in status and reasons",
    }),
    lastSeenAt: z.string(),
    version: z.string(),
  })),
  scheduler: z.object({
    schedules: z.number(),
    paused: z.number(),
    nextFireAt: z.string().nullable(),
    overdue: z.number(),
  }),
  maintenance: z.object({
    leader: z.object({
      holder: z.string(),
      term: z.number(),
      expiresAt: z.string(),
      live: z.boolean(),
    }).nullable(),
    services: z.array(z.object({
      service: z.string(),
      lastRunAt: z.string(),
      durationMs: z.number(),
      counts: z.unknown(),
      error: z.string().nullable(),
    })),
  }),
  signing: z.object({ configured: z.boolean(), count: z.number() }),
  alertsFiring: z.array(z.string()),
  telemetry: TelemetryHealth,
}).openapi("OpsQueues");

const Alert = z.object({
  name: z.string(),
  subject: z.string(),
  state: z.string(),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  pendingSince: z.string().nullable(),
  firedAt: z.string().nullable(),
  resolvedAt: z.string().nullable(),
  evaluatedAt: z.string(),
  details: z.record(z.string(), z.unknown()),
}).openapi("Alert");

const OpsAlerts = z.object({
  firing: z.array(Alert),
  pending: z.array(Alert),
  recent: z.array(z.object({
    name: z.string(),
    subject: z.string(),
    event: z.enum(["firing", "resolved"]),
    value: z.number().nullable(),
    threshold: z.number().nullable(),
    at: z.string(),
  })),
}).openapi("OpsAlerts");

export function opsRouter(ctx: ApiContext) {
  const r = newRouter();
  // Status and reasons from the one status function /health answers with (src/api/status.ts),
  // which also shares the snapshot for a couple of seconds.
  const queues = async () => (await ctx.status.report()).snapshot;
  const alerts = shared(CACHE_MS, () => opsAlerts(ctx.sql));

  r.openapi(
    createRoute({
      method: "get",
      path: "/ops/queues",
      tags,
      summary: "System status with reasons, per-queue counts and rates, workers, scheduler health",
      middleware: [requireScope("read")] as const,
      responses: { 200: jsonContent(OpsQueues, "the triage snapshot"), ...errorResponses() },
    }),
    async (c) => {
      // Shared across callers, so delivery secrets are redacted per caller: whole for admins.
      const snap = await queues();
      const reveal = revealsSecrets(c);
      return c.json({
        ...snap,
        queues: snap.queues.map((q) => ({ ...q, policy: policyResource(q.policy, reveal) })),
        telemetry: telemetryHealth(ctx.telemetry),
      }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "get",
      path: "/ops/alerts",
      tags,
      summary: "Alerts firing or pending now, and firings and resolutions of the last day",
      middleware: [requireScope("read")] as const,
      responses: { 200: jsonContent(OpsAlerts, "alerts"), ...errorResponses() },
    }),
    async (c) => c.json(await alerts(), 200),
  );
  return r;
}
