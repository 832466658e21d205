/**
 * Unauthenticated probes, matched by exact path: `/healthz` (the process answers), `/readyz`
 * (503 with the reason while the database is unreachable, migrations are pending, or the
 * embedded database's disk is nearly full) and `/health` (`{"status"}`: online, degraded or
 * offline from src/api/status.ts, the same status `/v1/ops/queues` answers; the reasons and
 * details only for a `read` or `admin` token or an address in SLUICE_HEALTH_ALLOWLIST).
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { Hono } from "hono";
import type { Context } from "hono";
import { showSize } from "../config/parse.ts";
import { migrationLabel, migrationStatus } from "../db/migrate.ts";
import { type ErrorCode, SluiceError } from "../errors.ts";
import type { Scope } from "../auth/tokens.ts";
import { versionInfo } from "../version.ts";
import { ipInCidrs } from "./_cidr.ts";
import { freeDiskBytes } from "./_disk.ts";
import { bearerOf, verifyPresented } from "./auth.ts";
import { clientIp } from "./client_ip.ts";
import type { ApiContext, Env } from "./deps.ts";
import { errorResponse } from "./errors.ts";
import { ErrorSchema } from "./schemas.ts";
import { notReady } from "./status.ts";
import { telemetryHealth } from "./telemetry_health.ts";

const DB_TIMEOUT_MS = 2_000;
const DISK_CACHE_MS = 5_000;
/**
 * How long a migration check stands. A newer binary may add migrations to a shared database at
 * any time (a rolling deploy); this api must stop being ready then, and one small query every
 * few seconds is cheap next to running it on every probe.
 */
const MIGRATIONS_CACHE_MS = 5_000;
/** Token scopes that see /health's details: the ones `/v1/ops/queues` accepts. */
const DETAIL_SCOPES: readonly Scope[] = ["admin", "read"];

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
  let migrations: { at: number; pending: string[] } | null = null;
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
    if (
      !migrations ||
      performance.now() - migrations.at >= (ctx.migrationsCacheMs ?? MIGRATIONS_CACHE_MS)
    ) {
      // `unknown` (applied by a newer build) is left out: the newer schema is the one a rolling
      // deploy moves to, and this build keeps serving on it until it is replaced.
      const pending = (await migrationStatus(ctx.sql)).filter((m) =>
        m.state === "pending" || m.state === "checksum_mismatch"
      );
      migrations = { at: performance.now(), pending: pending.map(migrationLabel) };
    }
    out.pendingMigrations = migrations.pending;
    if (migrations.pending.length > 0) {
      fail("MIGRATIONS_PENDING", `migrations pending: ${migrations.pending.join(", ")}`);
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
    const code = s.ready ? 200 : 503;
    // A status that cannot be worked out is not "online"; it never fails the probe either.
    const report = s.ready
      ? await ctx.status.report().catch((e) => {
        ctx.log.warn("health_details_failed", { error: e });
        return null;
      })
      : null;
    const { status, reasons } = report ??
      (s.ready ? { status: "degraded", reasons: ["the status could not be read"] } : notReady(
        s.reason!,
      ));
    if (!(await seesDetails(c))) return c.json({ status }, code);
    return c.json({
      status,
      reasons,
      database: { reachable: s.databaseLatencyMs !== null, latencyMs: s.databaseLatencyMs },
      migrations: { pending: s.pendingMigrations },
      disk: embedded
        ? { freeBytes: s.freeDiskBytes, minFreeBytes: ctx.config.minFreeDiskBytes }
        : null,
      signing: {
        configured: ctx.config.signingSecrets.length > 0,
        count: ctx.config.signingSecrets.length,
        warning: report?.signingWarning ?? null,
      },
      degradedQueues: report?.degradedQueues ?? [],
      openCircuits: report?.openCircuits ?? [],
      firingAlerts: report?.firingAlerts ?? [],
      tableHealth: report?.tableHealth ?? null,
      telemetry: telemetryHealth(ctx.telemetry),
    }, code);
  });

  /**
   * Details go to callers who may read the ops views: an allowlisted address, or a token whose
   * scope is `read` or `admin` (the scopes `/v1/ops/queues` accepts). Producer and worker tokens
   * get the bare status like anyone: they see their own jobs, not the deployment's insides.
   */
  async function seesDetails(c: Context): Promise<boolean> {
    if (ipInCidrs(clientIp(c, ctx), ctx.config.healthAllowlist)) return true;
    const secret = bearerOf(c);
    if (secret === null) return false;
    // Through the failed-auth limiter: /health would otherwise be a token-guessing oracle.
    const token = await verifyPresented(ctx, c, secret, "invalid_token");
    return token !== null && DETAIL_SCOPES.includes(token.scope);
  }

  return r;
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
    '{"status":"online|degraded|offline"} (the /v1/ops/queues status); reasons and details for a read or admin token or an address in SLUICE_HEALTH_ALLOWLIST',
    "Details: reasons, database latency, migrations, disk, signing secrets, degraded queues, open circuits, firing alerts, table health, OTLP exporter health. 503 (offline) while this api is not ready.",
  );
}
