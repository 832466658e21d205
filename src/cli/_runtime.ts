import { requireConfig } from "../config/load.ts";
import type { Config } from "../config/vars.ts";
import { type ConnectOptions, connectTo, openDatabase, type Sql } from "../db/connect.ts";
import { type EmbeddedCluster, startEmbedded } from "../db/embedded.ts";
import { passwordFromUrlFile } from "../db/credentials.ts";
import { assertNoPendingMigrations, migrate } from "../db/migrate.ts";
import { describePostgresUrl } from "../db/url.ts";
import { isSluiceError, SluiceError } from "../errors.ts";
import { exitCodeOf, UsageError } from "./_command.ts";
import { createLogger, type Logger, LogTap } from "../obs/log.ts";
import { Registry } from "../obs/metrics.ts";
import { startTelemetry, type Telemetry } from "../obs/telemetry/mod.ts";
import { telemetrySettings } from "../obs/telemetry/settings.ts";

export interface RoleSetup {
  config: Config;
  log: Logger;
  /**
   * Whether a person reads this output: stderr is a terminal and SLUICE_LOG_FORMAT was not set
   * to json on purpose. Only then may a role print a text banner beside its log lines; under
   * systemd, compose or a pipe every line stays one JSON object.
   */
  human: boolean;
  /** The process's metrics registry: served by /metrics/prom, exported over OTLP. */
  registry: Registry;
  /** OTLP export (off unless an OTEL_EXPORTER_OTLP_*ENDPOINT is set); shut down by runRole. */
  telemetry: Telemetry;
}

export interface RoleRun {
  /**
   * Loads the environment (unknown SLUICE_* names are logged as warnings), the logger and the
   * role's telemetry.
   */
  setup(): Promise<RoleSetup>;
  /** Marks the role as started: a failure from here on is `role_failed`, not `startup_failed`. */
  ready(): void;
}

/**
 * Runs a role (`up`, `api`, `worker`, `maintenance`) so that whatever ends it is a log line, not
 * text: `startup_failed` (before `ready()`) or `role_failed`, with the error `code` and the
 * `exit_code` (2 for a configuration or usage error, 1 for a runtime failure). A configuration
 * that does not load still gets a JSON line, from a default logger.
 */
export async function runRole(role: string, body: (run: RoleRun) => Promise<number>) {
  let log: Logger | null = null;
  let telemetry: Telemetry | null = null;
  let started = false;
  try {
    return await body({
      setup: async () => {
        const s = await roleSetup(role);
        log = s.log;
        telemetry = s.telemetry;
        return s;
      },
      ready: () => (started = true),
    });
  } catch (e) {
    const exitCode = exitCodeOf(e);
    (log ?? createLogger({ role })).error(started ? "role_failed" : "startup_failed", {
      code: e instanceof UsageError ? "CONFIG_INVALID" : isSluiceError(e) ? e.code : "INTERNAL",
      error: e,
      ...(isSluiceError(e) && e.details.problems ? { problems: e.details.problems } : {}),
      exit_code: exitCode,
    });
    return exitCode;
  } finally {
    // Flushes what is queued (bounded by OTEL_EXPORTER_OTLP_TIMEOUT per signal).
    await (telemetry as Telemetry | null)?.shutdown();
  }
}

async function roleSetup(role: string): Promise<RoleSetup> {
  const { config, sources, warnings } = requireConfig();
  const settings = telemetrySettings(config, role);
  const tap = new LogTap();
  const log = createLogger({ role, level: config.logLevel, format: config.logFormat, tap });
  for (const w of warnings) log.warn("config_warning", { detail: w });
  const human = Deno.stderr.isTerminal() &&
    !(sources.logFormat !== "default" && config.logFormat === "json");
  const registry = new Registry();
  const telemetry = await startTelemetry({
    settings,
    role,
    registry,
    tap,
    log,
    instanceId: config.workerId,
  });
  if (telemetry.enabled) {
    log.info("telemetry_started", {
      protocol: settings.protocol,
      service_name: settings.serviceName,
      traces: settings.endpoints.traces,
      metrics: settings.endpoints.metrics,
      logs: settings.endpoints.logs,
      metric_interval_ms: settings.metricIntervalMs,
    });
  }
  return { config, log, human, registry, telemetry };
}

// The engine owns the mapping; roles import it from here with the rest of their set-up.
export { engineDefaults } from "../queue/queues.ts";

export interface RoleDatabase {
  sql: Sql;
  /** Set when this process started the embedded cluster (only `sluice up` does). */
  embedded: EmbeddedCluster | null;
  /** Where the data lives, for start-up banners (no credentials). */
  describe: string;
  /** Another pool on the same database (e.g. the api's, with its statement timeout); `close` ends it. */
  openPool(opts: ConnectOptions): Promise<Sql>;
  close(): Promise<void>;
}

const CONNECT_ATTEMPTS = 8;

/**
 * Connects a role to its database, retrying with capped, jittered backoff (about 30 s in all)
 * so a role started together with PostgreSQL waits for it instead of failing at once.
 */
export async function connectRole(
  config: Config,
  log: Logger,
  { startEmbeddedIfNeeded = false, ...pool }: { startEmbeddedIfNeeded?: boolean } & ConnectOptions =
    {},
): Promise<RoleDatabase> {
  let embedded: EmbeddedCluster | null = null;
  let sql: Sql;
  let describe: string;
  if (!config.databaseUrl && startEmbeddedIfNeeded) {
    embedded = await startEmbedded({
      dataDir: config.dataDir,
      pgBin: config.pgBin,
      log: (line) => log.info("embedded_postgres", { detail: line }),
    });
    sql = connectTo(embedded.connection, pool);
    describe = `embedded PostgreSQL in ${embedded.dataDir} (socket ${embedded.connection.host})`;
  } else {
    sql = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      ...pool,
      password: rotatingPassword(config),
    });
    describe = config.databaseUrl
      ? redactUrl(config.databaseUrl)
      : `embedded PostgreSQL in ${config.dataDir}`;
  }
  for (let attempt = 1;; attempt++) {
    try {
      await sql`SELECT 1`;
      break;
    } catch (e) {
      if (attempt >= CONNECT_ATTEMPTS) {
        await sql.end({ timeout: 1 }).catch(() => {});
        await embedded?.stop();
        throw new SluiceError(
          "DATABASE_UNAVAILABLE",
          `cannot reach the database (${describe}) after ${attempt} attempts: ${
            (e as Error).message
          }`,
          {},
          { cause: e },
        );
      }
      const delay = Math.min(8_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
      log.warn("database_unreachable", { attempt, retry_in_ms: Math.round(delay), error: e });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  const pools = [sql];
  const unwatch = watchHangup(config, log);
  return {
    sql,
    embedded,
    describe,
    openPool: async (opts) => {
      const more = embedded ? connectTo(embedded.connection, opts) : await openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        ...opts,
        password: rotatingPassword(config),
      });
      pools.push(more);
      return more;
    },
    close: async () => {
      unwatch();
      await Promise.all(pools.map((p) => p.end({ timeout: 5 }).catch(() => {})));
      await embedded?.stop();
    },
  };
}

/**
 * Applies pending migrations when the role may (`SLUICE_MIGRATE_ON_STARTUP`, default on for
 * `up` only); otherwise refuses to run against an outdated schema.
 */
export async function prepareSchema(
  sql: Sql,
  config: Config,
  log: Logger,
  { migrateByDefault }: { migrateByDefault: boolean },
): Promise<void> {
  if (config.migrateOnStartup ?? migrateByDefault) {
    const { applied } = await migrate(
      sql,
      undefined,
      (line) => log.info("migration", { detail: line }),
    );
    if (applied.length > 0) log.info("migrations_applied", { count: applied.length });
  } else {
    await assertNoPendingMigrations(sql);
  }
}

/**
 * Resolves with the signal name at the first SIGINT or SIGTERM. A role calls it before it says
 * it has started (`worker_started`, `api_ready`, …): a supervisor that stops it right after
 * that line gets a graceful stop, not the default exit 143.
 */
export function shutdownSignal(): Promise<"SIGINT" | "SIGTERM"> {
  return new Promise((resolve) => {
    const handlers: [Deno.Signal, () => void][] = [];
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const h = () => {
        for (const [s, fn] of handlers) Deno.removeSignalListener(s, fn);
        resolve(sig);
      };
      handlers.push([sig, h]);
      Deno.addSignalListener(sig, h);
    }
  });
}

export function redactUrl(url: string): string {
  try {
    return describePostgresUrl(url);
  } catch {
    return "<unparseable DATABASE_URL>";
  }
}

/**
 * SIGHUP with `DATABASE_URL_FILE`: read the file now and say whether it holds a usable URL, so a
 * rotation is checked at once instead of at the next reconnect (which reads it anyway). Without
 * a listener SIGHUP would end the process.
 */
function watchHangup(config: Config, log: Logger): () => void {
  const file = Deno.env.get("DATABASE_URL_FILE");
  if (!config.databaseUrl || !file || Deno.build.os === "windows") return () => {};
  const read = passwordFromUrlFile(file);
  const onHangup = () => {
    read().then(
      () => log.info("database_url_file_reloaded", { file }),
      (e) => log.error("database_url_file_invalid", { file, error: e }),
    );
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  return () => Deno.removeSignalListener("SIGHUP", onHangup);
}

/** With `DATABASE_URL_FILE`, each new connection re-reads the password (rotation, no restart). */
function rotatingPassword(config: Config): (() => Promise<string>) | undefined {
  const file = Deno.env.get("DATABASE_URL_FILE");
  return config.databaseUrl && file ? passwordFromUrlFile(file) : undefined;
}
