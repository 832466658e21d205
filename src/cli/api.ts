import { startApiServer } from "../api/serve.ts";
import { warmPool } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { type Command, EXIT_OK, parseFlags } from "./_command.ts";
import { connectRole, engineDefaults, prepareSchema, runRole, shutdownSignal } from "./_runtime.ts";

/** Connections of the api role's pool, all opened at startup. */
const API_POOL = 20;

const HELP = `Usage: sluice api

Serves the HTTP API (/v1, with its schema at /v1/openapi.json) and the probes /healthz,
/readyz and /health on SLUICE_API_ADDR (default 127.0.0.1:8080; off refuses to start).
Every /v1 route needs 'Authorization: Bearer <token>' (sluice token create). A non-loopback
address is refused while no admin token exists. SLUICE_BOOTSTRAP_TOKEN, when set, is stored
as the admin token 'bootstrap'.

Logs: JSON lines on stdout, 'api_ready' (with the url) once it serves, 'startup_failed' (with
the code; exit 2 for configuration, 1 otherwise) when it cannot start.

Environment: DATABASE_URL or DATABASE_URL_FILE (else the embedded cluster a running 'sluice up' started),
SLUICE_API_REQUEST_TIMEOUT, SLUICE_DB_STATEMENT_TIMEOUT (per database statement; 504
DATABASE_TIMEOUT), SLUICE_API_RATE_LIMIT (requests per minute per token or IP),
SLUICE_HEALTH_ALLOWLIST, SLUICE_MAX_BATCH_SIZE, SLUICE_MAX_PAYLOAD_BYTES,
SLUICE_MAX_ENQUEUE_PER_MINUTE, SLUICE_MAX_QUEUE_SIZE. Migrations must be applied first
(sluice migrate) unless SLUICE_MIGRATE_ON_STARTUP=true.

Stops on SIGTERM or Ctrl-C after in-flight requests finish.

Options:
  -h, --help
`;

export const apiCommand: Command = {
  name: "api",
  summary: "serve the HTTP API and health probes on SLUICE_API_ADDR",
  help: HELP,
  run(args) {
    return runRole("api", async (run) => {
      if (!parseFlags(args, {}, HELP)) return EXIT_OK;
      const { config, log, registry, telemetry } = await run.setup();
      if (!config.apiAddr) {
        throw new SluiceError(
          "CONFIG_INVALID",
          "SLUICE_API_ADDR is 'off': set a host:port to run the api role",
        );
      }
      // The whole pool serves requests, so the statement timeout is the pool's; migrate()
      // lifts it on its own connection.
      const db = await connectRole(config, log, {
        max: API_POOL,
        statementTimeoutMs: config.dbStatementTimeoutMs,
        applicationName: "sluice api",
      });
      try {
        await prepareSchema(db.sql, config, log, { migrateByDefault: false });
        await warmPool(db.sql, API_POOL);
        const server = await startApiServer({
          sql: db.sql,
          config,
          log,
          defaults: engineDefaults(config),
          registry,
          telemetry,
        });
        const stopping = shutdownSignal();
        run.ready();
        log.announce("api_ready", { url: server.url, database: db.describe });
        const sig = await stopping;
        log.info("shutdown_requested", { signal: sig });
        await server.close();
      } finally {
        await db.close();
      }
      log.info("stopped", {});
      return EXIT_OK;
    });
  },
};
