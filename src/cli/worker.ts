import { showListenAddr } from "../config/parse.ts";
import type { Config } from "../config/vars.ts";
import { PushTokenMinter } from "../delivery/push_token.ts";
import { pushIssuer } from "../auth/oidc_setup.ts";
import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { assertQueueName } from "../queue/names.ts";
import { VERSION } from "../version.ts";
import { CircuitBreaker } from "../delivery/circuit.ts";
import type { Deliver } from "../worker/deliver.ts";
import { httpDelivery } from "../worker/http_delivery.ts";
import { Worker, type WorkerOptions } from "../worker/worker.ts";
import { workerHealth } from "../worker/health.ts";
import type { Registry } from "../obs/metrics.ts";
import { createWorkerMetrics } from "../obs/worker_metrics.ts";
import { startWorkerServer } from "../obs/worker_server.ts";
import { type Command, EXIT_OK, parseFlags, UsageError } from "./_command.ts";
import { connectRole, engineDefaults, prepareSchema, runRole, shutdownSignal } from "./_runtime.ts";

const HELP = `Usage: sluice worker [--queues a,b] [--concurrency N]

Runs the lease loop: leases jobs from its queues in batches, runs them (inline built-in kinds,
exec commands, http push), heartbeats their leases, and retries or dead-letters failures.
SIGTERM/SIGINT: stop leasing, let running jobs finish within SLUICE_SHUTDOWN_GRACE, release
the rest back to available, exit 0.

Options:
  --queues a,b        queues to serve (default SLUICE_QUEUES, else every queue)
  --concurrency N     jobs run at once (default SLUICE_CONCURRENCY, 10)
  -h, --help

Environment: DATABASE_URL or DATABASE_URL_FILE (else the embedded cluster of a running \`sluice up\` in
SLUICE_DATA_DIR), SLUICE_WORKER_ID, SLUICE_LEASE, SLUICE_POLL, SLUICE_TASK_TIMEOUT,
SLUICE_SHUTDOWN_GRACE, SLUICE_WORKER_METRICS_ADDR. Refuses to start with pending migrations
unless SLUICE_MIGRATE_ON_STARTUP=true.
`;

export const workerCommand: Command = {
  name: "worker",
  summary: "run jobs: lease loop with heartbeats, retries and graceful shutdown",
  help: HELP,
  run(args) {
    return runRole("worker", async (run) => {
      const parsed = parseFlags(args, {
        queues: { type: "string" },
        concurrency: { type: "string" },
      }, HELP);
      if (!parsed) return EXIT_OK;
      const { config, log, registry, telemetry } = await run.setup();
      applyWorkerFlags(config, parsed.values);
      const db = await connectRole(config, log, {
        max: Math.min(20, 4 + Math.ceil(config.concurrency / 10)),
      });
      try {
        await prepareSchema(db.sql, config, log, { migrateByDefault: false });
        const stopping = shutdownSignal();
        const worker = await startObservedWorker(db.sql, config, log, {
          registry,
          tracing: telemetry.enabled,
        });
        run.ready();
        // A worker quieted from the ops page (POST /v1/workers/{id}/quiet) ends the process too,
        // with 0: a supervisor that restarts on failure leaves it stopped.
        const sig = await Promise.race([stopping, worker.worker.done().then(() => "quiet")]);
        log.info("shutdown_requested", { signal: sig });
        await worker.stop();
      } finally {
        await db.close();
      }
      return EXIT_OK;
    });
  },
};

export function applyWorkerFlags(
  config: Config,
  v: { queues?: string; concurrency?: string },
): void {
  if (v.queues !== undefined) {
    const names = v.queues.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      names.forEach(assertQueueName);
    } catch (e) {
      throw new UsageError(`--queues: ${(e as Error).message}`);
    }
    config.queues = names.length > 0 ? names : null;
  }
  if (v.concurrency !== undefined) {
    const n = Number(v.concurrency);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) {
      throw new UsageError(
        `--concurrency: "${v.concurrency}" is not a whole number from 1 to 10000`,
      );
    }
    config.concurrency = n;
  }
}

export function createWorker(
  sql: Sql,
  config: Config,
  log: Logger,
  extra: Partial<WorkerOptions> = {},
): Worker {
  return new Worker({
    sql,
    workerId: config.workerId,
    queues: config.queues,
    concurrency: config.concurrency,
    leaseMs: config.leaseMs,
    pollMs: config.pollMs,
    shutdownGraceMs: config.shutdownGraceMs,
    defaults: engineDefaults(config),
    log,
    version: VERSION,
    deliveries: { http: httpDeliveryFor(sql, config, log) },
    ...extra,
  });
}

/** http push with the circuits shared through the database, as `sluice worker` and `up` run it. */
export function httpDeliveryFor(sql: Sql, config: Config, log: Logger): Deliver {
  return httpDelivery({
    signingSecrets: config.signingSecrets,
    deny: config.deliveryDeny,
    allow: config.deliveryAllow,
    holder: config.workerId,
    pushTokens: new PushTokenMinter(sql, {
      issuer: pushIssuer(config),
      keySecret: config.pushKeySecret,
      lifetimeMs: config.pushTokenLifetimeMs,
      log,
    }),
    breaker: new CircuitBreaker(sql, {
      failures: config.circuitFailures,
      failureRatio: config.circuitFailureRatio,
      windowMs: config.circuitWindowMs,
      cooldownMs: config.circuitCooldownMs,
    }, log),
  });
}

/**
 * A started worker with its metrics port (SLUICE_WORKER_METRICS_ADDR) serving /healthz and
 * /metrics/prom; `stop()` stops both.
 */
export async function startObservedWorker(
  sql: Sql,
  config: Config,
  log: Logger,
  { registry, seriesServedBy = null, tracing = false }: {
    registry?: Registry;
    /** Spans per lease batch and attempt (telemetry on). */
    tracing?: boolean;
    /** See startWorkerServer(): the URL exporting `registry` when it is shared (`sluice up`). */
    seriesServedBy?: string | null;
  } = {},
): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const metrics = createWorkerMetrics(registry);
  let worker: Worker | null = null;
  const health = workerHealth(sql, () => worker, { capacity: config.concurrency, log });
  const server = config.workerMetricsAddr === null ? null : startWorkerServer({
    addr: config.workerMetricsAddr,
    registry: metrics.registry,
    seriesServedBy,
    log,
    health: async () => ({ workerId: config.workerId, ...await health() }),
  });
  worker = createWorker(sql, config, log, {
    onAttempt: metrics.onAttempt,
    metricsAddr: server ? showListenAddr(server.addr) : null,
    tracing,
  });
  metrics.attach(worker);
  await worker.start();
  const w = worker;
  return {
    worker: w,
    stop: async () => {
      await w.stop();
      await server?.close();
    },
  };
}
