/**
 * Unauthenticated probes, matched by exact path: `/healthz` (the process answers), `/readyz`
 * (503 with the reason while the database is unreachable, migrations are pending, or the
 * embedded database's disk is nearly full) and `/health` (`{"status":"ok"}`; details only for
 * an authenticated caller or an address in SLUICE_HEALTH_ALLOWLIST).
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { Hono } from "hono";
import { showSize } from "../config.ts";
import { migrationStatus } from "../db/migrate.ts";
import { type ErrorCode, SluiceError } from "../errors.ts";
import { listCircuits, originOf } from "../delivery/circuit.ts";
import { opsAlerts } from "../maintenance/alerts.ts";
import { checkTableHealth } from "../maintenance/table_health.ts";
import { listQueues } from "../queue/queues.ts";
import { versionInfo } from "../version.ts";
import { ipInCidrs } from "./_cidr.ts";
import { freeDiskBytes } from "./_disk.ts";
import { bearerOf, verifyPresented } from "./auth.ts";
import { clientIp } from "./client_ip.ts";
import type { ApiContext, Env } from "./deps.ts";
import { errorResponse } from "./errors.ts";
import { ErrorSchema } from "./schemas.ts";

const DB_TIMEOUT_MS = 2_000;
const DISK_CACHE_MS = 5_000;

export interface Readiness {
  ready: boolean;
  code: ErrorCode | null;
  reason: string | null;
  databaseLatencyMs: number | null;
  pendingMigrations: string[];
  freeDiskBytes: number | null;
}

export function healthRouter(ctx: ApiContext) {
  const r = new Hono<Env>({ strict: true });
  const embedded = ctx.config.databaseUrl === null;
  let migrationsDone = false;
  let disk: { at: number; bytes: number | null } | null = null;

  async function readiness(): Promise<Readiness> {
    const out: Readiness = {
      ready: true,
      code: null,
      reason: null,
      databaseLatencyMs: null,
      pendingMigrations: [],
      freeDiskBytes: null,
    };
    const fail = (code: ErrorCode, reason: string) => {
      if (out.ready) Object.assign(out, { ready: false, code, reason });
    };
    const t0 = performance.now();
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        ctx.sql`SELECT 1`,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("no answer within 2s")), DB_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      out.databaseLatencyMs = Math.round((performance.now() - t0) * 10) / 10;
    } catch (e) {
      fail("DATABASE_UNAVAILABLE", `database unreachable: ${(e as Error).message}`);
      return out;
    }
    // Once everything is applied it stays so for this build: stop asking.
    if (!migrationsDone) {
      const pending = (await migrationStatus(ctx.sql)).filter((m) => m.state !== "applied");
      out.pendingMigrations = pending.map((m) => `${m.version}_${m.name}`);
      if (pending.length > 0) {
        fail("MIGRATIONS_PENDING", `migrations pending: ${out.pendingMigrations.join(", ")}`);
      } else migrationsDone = true;
    }
    if (embedded && ctx.config.minFreeDiskBytes > 0) {
      if (!disk || performance.now() - disk.at > DISK_CACHE_MS) {
        disk = { at: performance.now(), bytes: await freeDiskBytes(ctx.config.dataDir) };
      }
      out.freeDiskBytes = disk.bytes;
      if (disk.bytes !== null && disk.bytes < ctx.config.minFreeDiskBytes) {
        fail(
          "NOT_READY",
          `free disk in '${ctx.config.dataDir}' is ${
            showSize(disk.bytes)
          }, below SLUICE_MIN_FREE_DISK (${showSize(ctx.config.minFreeDiskBytes)})`,
        );
      }
    }
    return out;
  }

  /**
   * What an operator checks first (DESIGN.md "HTTP API"): queues that will not make progress
   * (paused, or http delivery behind an open circuit), open circuits, firing alerts, and the
   * jobs table's vacuum health. Small tables and catalog views: cheap enough per request.
   */
  async function details() {
    const [queues, circuits, alerts, tableHealth] = await Promise.all([
      listQueues(ctx.sql, ctx.defaults),
      listCircuits(ctx.sql),
      opsAlerts(ctx.sql, { limit: 0 }),
      checkTableHealth(ctx.sql, {
        xminHorizonMs: ctx.config.xminHorizonWarnMs,
        deadTupleRatio: ctx.config.deadTupleRatioWarn,
      }),
    ]);
    const open = circuits.filter((x) => x.state !== "closed");
    const openByOrigin = new Map(open.map((x) => [x.origin, x]));
    const degradedQueues: { name: string; reason: string }[] = [];
    for (const q of queues) {
      if (q.paused) degradedQueues.push({ name: q.name, reason: "paused" });
      const d = q.effective.delivery;
      const circuit = d.mode === "http" ? openByOrigin.get(safeOrigin(d.url)) : undefined;
      if (circuit) {
        degradedQueues.push({
          name: q.name,
          reason: `circuit ${circuit.state} for '${circuit.origin}' until ${circuit.openUntil}`,
        });
      }
    }
    const http = queues.filter((q) => q.effective.delivery.mode === "http").length;
    return {
      signingWarning: http > 0 && ctx.config.signingSecrets.length === 0
        ? `${http} queue(s) deliver over http but SLUICE_SIGNING_SECRETS is empty: requests go unsigned`
        : null,
      degradedQueues,
      openCircuits: open.map((x) => ({
        origin: x.origin,
        state: x.state,
        openedAt: x.openedAt,
        openUntil: x.openUntil,
        lastFailure: x.lastFailure,
      })),
      firingAlerts: alerts.firing.map((a) => ({
        name: a.name,
        subject: a.subject,
        value: a.value,
        threshold: a.threshold,
        firedAt: a.firedAt,
      })),
      tableHealth,
    };
  }

  // The version lets `sluice verify` check that every role of a deployment runs the same build.
  r.get("/healthz", (c) => {
    const { version, commit } = versionInfo();
    return c.json({ status: "ok", version, commit }, 200);
  });

  r.get("/readyz", async (c) => {
    const s = await readiness();
    if (!s.ready) {
      return errorResponse(c, new SluiceError(s.code!, s.reason!, { retryAfterSeconds: 5 }));
    }
    return c.json({ status: "ready" }, 200);
  });

  r.get("/health", async (c) => {
    const s = await readiness();
    const status = s.ready ? "ok" : "unavailable";
    const code = s.ready ? 200 : 503;
    const secret = bearerOf(c);
    const trusted = ipInCidrs(clientIp(c, ctx), ctx.config.healthAllowlist) ||
      // Through the failed-auth limiter: /health would otherwise be a token-guessing oracle.
      (secret !== null && (await verifyPresented(ctx, c, secret, "invalid_token")) !== null);
    if (!trusted) return c.json({ status }, code);
    // Tables of pending migrations may not exist yet; a failing detail never fails the probe.
    const d = s.databaseLatencyMs === null || s.pendingMigrations.length > 0
      ? null
      : await details().catch((e) => {
        ctx.log.warn("health_details_failed", { error: e });
        return null;
      });
    return c.json({
      status,
      reason: s.reason,
      database: { reachable: s.databaseLatencyMs !== null, latencyMs: s.databaseLatencyMs },
      migrations: { pending: s.pendingMigrations },
      disk: embedded
        ? { freeBytes: s.freeDiskBytes, minFreeBytes: ctx.config.minFreeDiskBytes }
        : null,
      signing: {
        configured: ctx.config.signingSecrets.length > 0,
        count: ctx.config.signingSecrets.length,
        warning: d?.signingWarning ?? null,
      },
      degradedQueues: d?.degradedQueues ?? [],
      openCircuits: d?.openCircuits ?? [],
      firingAlerts: d?.firingAlerts ?? [],
      tableHealth: d?.tableHealth ?? null,
    }, code);
  });

  return r;
}

function safeOrigin(url: string): string {
  try {
    return originOf(url);
  } catch {
    return "";
  }
}

/** The probes in the OpenAPI document (served by the plain router above, without a token). */
export function documentHealthRoutes(doc: OpenAPIHono["openAPIRegistry"]): void {
  const Status = z.object({ status: z.string() });
  const probe = (path: string, summary: string, description: string) =>
    doc.registerPath({
      method: "get",
      path,
      tags: ["health"],
      summary,
      description,
      security: [],
      responses: {
        200: { description: "healthy", content: { "application/json": { schema: Status } } },
        503: {
          description: "not ready, with the reason",
          content: { "application/json": { schema: ErrorSchema } },
        },
      },
    });
  probe("/healthz", "Liveness: the process answers", "Never touches the database.");
  probe(
    "/readyz",
    "Readiness: 503 while the database is unreachable, migrations are pending or disk is low",
    "For load balancers and orchestrators.",
  );
  probe(
    "/health",
    '{"status":"ok"}; details for a token or an address in SLUICE_HEALTH_ALLOWLIST',
    "Details: database latency, migrations, disk, signing secrets, degraded queues, open circuits, firing alerts, table health.",
  );
}
