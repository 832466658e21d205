/**
 * Opening the database: the URL from the loaded config (`DATABASE_URL` or `DATABASE_URL_FILE`,
 * src/config/load.ts; never the environment directly, so every command honours both) when given,
 * else the embedded cluster a running `sluice up` started in the data dir.
 *
 * URLs may name a unix socket directory the libpq way, `postgres://sluice@localhost/db?host=/dir`
 * (psql accepts the same string). postgres.js would send an unknown `host` query parameter to
 * the server as a startup setting and fail, so `parseDatabaseUrl` lifts it into the `host`
 * option.
 */
import postgres from "postgres";
import { SluiceError } from "../errors.ts";
import { type EmbeddedConnection, findRunningEmbedded } from "./embedded.ts";
import { parsePostgresUrl } from "./url.ts";

/** A pool: opens connections, listens, reserves, ends. Only process roles hold one. */
export type Sql = postgres.Sql;

/**
 * What every engine verb takes: a pool or a transaction (both extend `ISql`), so a caller's
 * `sql.begin(tx => enqueueJob(tx, …))` type-checks and the verb joins the caller's transaction.
 */
export type Db = postgres.ISql;

/** A transaction, as `sql.begin` and `tx.savepoint` hand it out. */
export type Tx = postgres.TransactionSql;

/**
 * Runs `fn` atomically on `db`: its own transaction on a pool, a savepoint inside the caller's
 * transaction. Why a savepoint rather than "the caller owns it": a verb that needs several
 * statements to hold together must not half-apply when its caller catches the error and goes
 * on, and it must not open a second transaction on another connection (which would neither see
 * the caller's uncommitted rows nor roll back with it).
 */
export async function atomically<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const result = isTransaction(db) ? db.savepoint(fn) : (db as Sql).begin(fn);
  return (await result) as T;
}

/** Transactions carry `savepoint`; pools carry `begin` instead (postgres.js). */
export function isTransaction(db: Db): db is Tx {
  return typeof (db as Partial<Tx>).savepoint === "function";
}

export interface ConnectOptions {
  /** Pool size; postgres.js opens connections lazily up to this many. Default 10. */
  max?: number;
  /** Server NOTICEs; silenced by default (migrations and `IF NOT EXISTS` emit them). */
  onnotice?: (notice: postgres.Notice) => void;
  /**
   * PostgreSQL `statement_timeout` for every connection of the pool, in milliseconds; null or
   * absent = the server's (normally none). Only the api pool sets it (SLUICE_DB_STATEMENT_TIMEOUT).
   */
  statementTimeoutMs?: number | null;
  /** `application_name` in pg_stat_activity, so an operator sees whose a query is; "sluice". */
  applicationName?: string;
  /**
   * Asked on every new connection, so a rotated password is used from the next reconnect on
   * (src/db/credentials.ts); default: the URL's password.
   */
  password?: () => Promise<string>;
}

export interface OpenDatabaseOptions extends ConnectOptions {
  databaseUrl: string | null;
  dataDir: string;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Sql> {
  if (opts.databaseUrl) {
    const { url, host, port } = parseDatabaseUrl(opts.databaseUrl);
    // postgres.js takes `host`/`port` arrays at run time (parseOptions: `Array.isArray(host)`)
    // though its typings say string; arrays keep IPv6 hosts intact, a joined string would not.
    const hosts = { ...(host ? { host } : {}), ...(port ? { port } : {}) } as {
      host?: string;
      port?: number;
    };
    return postgres(url, {
      ...commonOptions(opts),
      ...hosts,
      ...(opts.password ? { pass: opts.password } : {}),
    });
  }
  const connection = await findRunningEmbedded(opts.dataDir);
  if (!connection) {
    throw new SluiceError(
      "EMBEDDED_PG_NOT_RUNNING",
      `no embedded PostgreSQL is running in '${opts.dataDir}': start \`sluice up\` there or ` +
        "set DATABASE_URL",
      { dataDir: opts.dataDir },
    );
  }
  return connectTo(connection, opts);
}

/** A pool for a known (embedded) connection. */
export function connectTo(connection: EmbeddedConnection, opts: ConnectOptions = {}): Sql {
  return postgres({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    username: connection.username,
    ...commonOptions(opts),
  });
}

/**
 * Splits a URL into what postgres.js needs: the one-host URL (user, database, `sslmode`, …) and
 * the host list, which it would otherwise mis-parse. libpq-style `host`/`port` query
 * parameters (a socket directory) replace the host list, as in psql.
 */
export function parseDatabaseUrl(databaseUrl: string): {
  url: string;
  host: string | string[] | null;
  port: number | number[] | null;
} {
  const parsed = parsePostgresUrl(databaseUrl);
  const u = parsed.singleHost;
  const host = u.searchParams.get("host");
  const port = u.searchParams.get("port");
  u.searchParams.delete("host");
  u.searchParams.delete("port");
  // postgres.js 3.4 judges `read-write` by the `default_transaction_read_only` the server
  // reports, which a hot standby reports as `off`: it kept pool connections on the standby
  // and every INSERT failed there (tests/faults/failover_test.ts). `primary` checks
  // `in_hot_standby` / `pg_is_in_recovery()`, which is what a failover changes.
  if (u.searchParams.get("target_session_attrs") === "read-write") {
    u.searchParams.set("target_session_attrs", "primary");
  }
  if (host || parsed.hosts.length < 2) {
    return { url: u.toString(), host: host || null, port: port ? Number(port) : null };
  }
  const defaultPort = port ? Number(port) : 5432;
  return {
    url: u.toString(),
    host: parsed.hosts.map((h) => h.host),
    port: parsed.hosts.map((h) => h.port ?? defaultPort),
  };
}

function commonOptions(opts: ConnectOptions) {
  return {
    max: opts.max ?? 10,
    prepare: true,
    onnotice: opts.onnotice ?? (() => {}),
    // A startup parameter, not `SET LOCAL` per request: it costs nothing per statement, where a
    // transaction around each request to scope a SET LOCAL cut throughput 4-5x (20 concurrent
    // one-statement requests: 2,100-3,100/s against 530-650/s on the 2-core box).
    connection: {
      application_name: opts.applicationName ?? "sluice",
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
    },
    // postgres.js delays each reconnect by (0.5–1) × min(3^failures / 100, 20) s: a few seconds
    // of outage with heartbeats and leases retrying made the next attempt wait 7–20 s after
    // PostgreSQL was back (tests/faults/postgres_restart_test.ts: first lease 3–10+ s after the
    // restart). Sluice backs off above the driver (worker loop ≤ 2 s, role start-up retries), so
    // the driver's own delay stays under a second.
    backoff: (failures: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** failures, 1),
    // No custom `types`: postgres.js already returns int8 (job ids, counts) as strings, which
    // is how ids travel in the API; numbers past 2^53 would otherwise lose digits.
  };
}

/**
 * Opens up to `n` pool connections now instead of under the first burst of requests. Measured
 * with bench/http_enqueue.ts (500 enqueues/s against a just-started `sluice api`): without it,
 * the first ~2 s answered in 0.3–2 s (p95 623 ms over the first 3 s) while postgres.js opened a
 * connection per waiting request, one after another.
 */
export async function warmPool(sql: Sql, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, () => sql`SELECT 1`));
}
