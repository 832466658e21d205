/**
 * A fresh database per test file or test, cloned from the migrated template `sluice_template`
 * (`CREATE DATABASE … TEMPLATE`, a file-level copy: milliseconds, no migrations per test).
 *
 * `scripts/test.ts` (behind `deno task test`) provides, for the whole run:
 *   SLUICE_TEST_DATABASE_URL  admin URL of the server holding the template, e.g.
 *                             `postgres://sluice@localhost:5432/sluice?host=/tmp/sluice-test-x/run`
 *                             (libpq-style `host` = socket directory; `openDatabase` accepts it)
 *   SLUICE_TEST_TEMPLATE      name of the migrated template database
 * Without them (`deno test tests/x_test.ts` run directly) the first call starts a throwaway
 * cluster for this test module and stops it when the module unloads.
 */
import { openDatabase, type Sql } from "../../src/db/connect.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";

export interface TestDatabase {
  /** A pool on the new database; `drop()` ends it. */
  sql: Sql;
  /** DATABASE_URL of the new database, usable by `openDatabase` in this or a child process. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

interface TestServer {
  adminUrl: string;
  template: string;
}

let server: Promise<TestServer> | null = null;

/** Test clusters are thrown away: durability off makes them several times faster. */
export const TEST_CLUSTER_SETTINGS = {
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
};

/**
 * `empty: true` gives a database without Sluice's schema (from `template0`), for tests of the
 * migration runner itself.
 */
export async function createTestDatabase(
  opts: { max?: number; empty?: boolean } = {},
): Promise<TestDatabase> {
  const { adminUrl, template } = await (server ??= testServer());
  const name = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const from = opts.empty ? "template0" : template;
  await withAdmin(adminUrl, async (admin) => {
    // FILE_COPY (PostgreSQL 15+): a plain directory copy, measured 105 ms against 190 ms for
    // the default WAL_LOG on the fsync-off test cluster; drops get 4x faster too.
    const [{ v }] = await admin<
      [{ v: number }]
    >`SELECT current_setting('server_version_num')::int AS v`;
    const strategy = v >= 150000 ? " STRATEGY FILE_COPY" : "";
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${quoteIdent(from)}${strategy}`);
  });
  const url = databaseUrlFor(adminUrl, name);
  const sql = await openDatabase({ databaseUrl: url, dataDir: "", max: opts.max ?? 10 });
  let dropped: Promise<void> | null = null;
  return {
    sql,
    url,
    name,
    drop: () =>
      dropped ??= (async () => {
        await sql.end({ timeout: 5 });
        // FORCE: a child process or a forgotten pool must not leave the database behind.
        await withAdmin(adminUrl, (admin) =>
          admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      })(),
  };
}

/**
 * Runs `fn` with a fresh database and drops it afterwards, also when `fn` throws. Every test
 * gets its database this way (tests/arch/test_hygiene_test.ts keeps hand-written drops out).
 *
 * When `fn` throws, that error is the one rethrown, untouched, so the failure shows the test's
 * own assertion and stack; a drop failing after it (often a consequence, e.g. a pool left busy)
 * is printed, not allowed to replace it.
 */
export async function withTestDatabase<T>(
  fn: (db: TestDatabase) => Promise<T>,
  opts: { max?: number; empty?: boolean } = {},
): Promise<T> {
  const db = await createTestDatabase(opts);
  let result: T;
  try {
    result = await fn(db);
  } catch (e) {
    await db.drop().catch((dropError) =>
      console.error(
        `dropping test database '${db.name}' after the failure below failed too:`,
        dropError,
      )
    );
    throw e;
  }
  await db.drop();
  return result;
}

/** How many jobs are in each state, e.g. `{ succeeded: 3, dead: 1 }` (absent states: none). */
export async function jobStates(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }[]>`
    SELECT state, count(*)::int AS n FROM sluice.jobs GROUP BY state`;
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** Env vars a child `sluice` process needs to reach `db` (merge into `Deno.Command` env). */
export function testDatabaseEnv(db: { url: string }): Record<string, string> {
  return { DATABASE_URL: db.url };
}

/** `url` with its database name replaced, every query parameter (socket `host`) kept. */
export function databaseUrlFor(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Creates (or re-creates) a migrated template database `template` on the server at `adminUrl`. */
export async function createTemplateDatabase(adminUrl: string, template: string): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(template)} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${quoteIdent(template)}`);
  });
  const sql = await openDatabase({ databaseUrl: databaseUrlFor(adminUrl, template), dataDir: "" });
  try {
    await migrate(sql);
  } finally {
    // CREATE DATABASE … TEMPLATE refuses while anyone is connected to the template.
    await sql.end();
  }
}

async function testServer(): Promise<TestServer> {
  const adminUrl = Deno.env.get("SLUICE_TEST_DATABASE_URL");
  const template = Deno.env.get("SLUICE_TEST_TEMPLATE");
  if (adminUrl && template) return { adminUrl, template };

  // Run directly: one throwaway cluster for this module.
  const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-test-" });
  const cluster = await startEmbedded({ dataDir, settings: TEST_CLUSTER_SETTINGS });
  globalThis.addEventListener("unload", () => {
    cluster.stopSync();
    try {
      Deno.removeSync(dataDir, { recursive: true });
    } catch { /* best effort */ }
  });
  const c = cluster.connection;
  const url = embeddedUrl(c.host, c.port, c.database, c.username);
  await createTemplateDatabase(url, "sluice_template");
  return { adminUrl: url, template: "sluice_template" };
}

/** A libpq-style URL for a unix socket directory, as `openDatabase` and psql accept it. */
export function embeddedUrl(socketDir: string, port: number, database: string, user: string) {
  const u = new URL(`postgres://${encodeURIComponent(user)}@localhost:${port}/${database}`);
  u.searchParams.set("host", socketDir);
  return u.toString();
}

async function withAdmin<T>(adminUrl: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = await openDatabase({ databaseUrl: adminUrl, dataDir: "", max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export type { Sql };
