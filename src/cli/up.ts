import { type ApiServer, startApiServer } from "../api/serve.ts";
import { shownOnce } from "../obs/log.ts";
import { type Command, EXIT_OK, parseFlags } from "./_command.ts";
import { connectRole, engineDefaults, prepareSchema, runRole, shutdownSignal } from "./_runtime.ts";
import { startMaintenance } from "./maintenance.ts";
import { applyWorkerFlags, startObservedWorker } from "./worker.ts";

/** Connections of the api's pool; the worker and maintenance share the role's 20 others. */
const API_POOL = 10;

const HELP = `Usage: sluice up [--queues a,b] [--concurrency N]

Everything in one process: worker (/healthz on SLUICE_WORKER_METRICS_ADDR; its series are on
the api's /metrics/prom, unless SLUICE_API_ADDR=off) + maintenance
(reaper, promoter, cron scheduler, archiver, pruner, scrubber, alerts) + the HTTP API. With no DATABASE_URL it creates (first run) and starts an embedded
PostgreSQL in SLUICE_DATA_DIR (default ./sluice-data) using the host's initdb/pg_ctl,
reachable only on a unix socket inside that directory, and stops it on exit.
Migrations are applied at start unless SLUICE_MIGRATE_ON_STARTUP=false.

Stop with Ctrl-C (SIGINT) or SIGTERM: running jobs finish within SLUICE_SHUTDOWN_GRACE, the
rest are released, then PostgreSQL is stopped.

Options:
  --queues a,b        queues the worker serves (default: every queue)
  --concurrency N     jobs run at once (default SLUICE_CONCURRENCY, 10)
  -h, --help

Operator commands in another shell in the same directory (sluice jobs …, sluice queue …)
find the embedded database by themselves.
`;

export const upCommand: Command = {
  name: "up",
  summary: "run everything in one process, with an embedded PostgreSQL if no DATABASE_URL",
  help: HELP,
  run(args) {
    return runRole("up", async (run) => {
      const parsed = parseFlags(args, {
        queues: { type: "string" },
        concurrency: { type: "string" },
      }, HELP);
      if (!parsed) return EXIT_OK;
      const { config, log, human, registry, telemetry } = await run.setup();
      applyWorkerFlags(config, parsed.values);
      const t0 = performance.now();
      const db = await connectRole(config, log, { startEmbeddedIfNeeded: true, max: 20 });
      try {
        await prepareSchema(db.sql, config, log, { migrateByDefault: true });
        // One registry for the api and the worker (the role's): the api's /metrics/prom shows
        // both roles.
        // The API is left out when SLUICE_API_ADDR=off; it starts first so a busy port fails
        // before anything else runs.
        const api: ApiServer | null = config.apiAddr
          ? await startApiServer({
            // A pool of its own: SLUICE_DB_STATEMENT_TIMEOUT bounds request statements, and the
            // worker's and maintenance's (bulk archiving, pruning) stay unbounded on `db.sql`.
            sql: await db.openPool({
              max: API_POOL,
              statementTimeoutMs: config.dbStatementTimeoutMs,
              applicationName: "sluice api",
            }),
            config,
            log,
            defaults: engineDefaults(config),
            createAdminIfMissing: true,
            registry,
            telemetry,
          })
          : null;
        const stopping = shutdownSignal();
        const maintenance = startMaintenance(db.sql, config, log);
        // Each series once: with the API on, its /metrics/prom exports the shared registry and
        // the worker port keeps /healthz but exports no series (scraping both used to count
        // every job twice); with SLUICE_API_ADDR=off the worker port exports everything.
        const worker = await startObservedWorker(db.sql, config, log, {
          registry,
          seriesServedBy: api ? `${api.url}/metrics/prom` : null,
          tracing: telemetry.enabled,
        });
        run.ready();
        const opsPage = api ? `${api.url}/` : null;
        // The first admin token goes out once: in the banner for a person at a terminal, else in
        // the up_ready line, where `docker compose logs` / journalctl show it.
        log.announce("up_ready", {
          startup_ms: Math.round(performance.now() - t0),
          database: db.describe,
          ops_page: opsPage,
          api: api ? `${api.url}/v1` : null,
          worker_id: config.workerId,
          admin_token: api?.createdAdminToken && !human
            ? shownOnce(api.createdAdminToken)
            : undefined,
        });
        if (human) {
          banner([
            `Sluice is up (${Math.round(performance.now() - t0)} ms).`,
            `  database:  ${db.describe}`,
            ...(db.embedded ? [`  data dir:  ${db.embedded.dataDir}`] : []),
            `  worker:    ${config.workerId}, concurrency ${config.concurrency}, queues ${
              config.queues?.join(",") ?? "all"
            }`,
            `  ops page:  ${
              api ? `${api.url}/  (sign in with an admin token)` : "off (SLUICE_API_ADDR=off)"
            }`,
            `  api:       ${api ? `${api.url}/v1 (probes ${api.url}/readyz)` : "off"}`,
            ...(api?.createdAdminToken
              ? [
                `  admin token (shown once, store it now): ${api.createdAdminToken}`,
                `             curl -H 'Authorization: Bearer <token>' ${api.url}/v1/queues`,
              ]
              : api
              ? [
                `  tokens:    made on first start; another: sluice token create --name me --scope admin`,
              ]
              : []),
            `  stop:      Ctrl-C (or SIGTERM to pid ${Deno.pid})`,
            `  try:       sluice jobs enqueue --queue default --kind sluice.noop   (from another shell here)`,
          ]);
        }
        const sig = await stopping;
        log.info("shutdown_requested", { signal: sig });
        await api?.close();
        await worker.stop();
        await maintenance.stop();
      } finally {
        await db.close();
      }
      log.info("stopped", {});
      return EXIT_OK;
    });
  },
};

/** Human lines on stderr, only at a terminal (RoleSetup.human), beside the JSON-lines log. */
function banner(lines: string[]): void {
  console.error(lines.join("\n"));
}
