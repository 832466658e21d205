/**
 * Unauthenticated probes, matched by exact path: `/healthz` (the process answers), `/readyz`
 * (503 with the reason while the database is unreachable, migrations are pending, or the
 * embedded database's disk is nearly full) and `/health` (`{"status":"ok"}`; details only for
 * an authenticated caller or an address in SLUICE_HEALTH_ALLOWLIST).
 */
import { Hono } from "hono";
import { showSize } from "../config.ts";
import { migrationStatus } from "../db/migrate.ts";
import { type ErrorCode, SluiceError } from "../errors.ts";
import { listQueues } from "../queue/queues.ts";
import { versionInfo } from "../version.ts";
import { ipInCidrs } from "./_cidr.ts";
import { freeDiskBytes } from "./_disk.ts";
import { bearerOf, clientIp } from "./auth.ts";
import type { ApiContext, Env } from "./deps.ts";
import { errorResponse } from "./errors.ts";

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
      (secret !== null && (await ctx.auth.verify(secret)) !== null);
    if (!trusted) return c.json({ status }, code);
    const queues = s.databaseLatencyMs === null ? [] : await listQueues(ctx.sql, ctx.defaults);
    return c.json({
      status,
      reason: s.reason,
      database: { reachable: s.databaseLatencyMs !== null, latencyMs: s.databaseLatencyMs },
      migrations: { pending: s.pendingMigrations },
      disk: embedded
        ? { freeBytes: s.freeDiskBytes, minFreeBytes: ctx.config.minFreeDiskBytes }
        : null,
      degradedQueues: queues.filter((q) => q.paused).map((q) => ({
        name: q.name,
        reason: "paused",
      })),
    }, code);
  });

  return r;
}
