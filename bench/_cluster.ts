/**
 * The benchmark's own PostgreSQL: the embedded-cluster code in a temp dir, with the server's
 * default durability (fsync, synchronous_commit and full_page_writes ON, unlike the test
 * cluster) so the figures are production-like. Each measured run gets a fresh database.
 */
import { connectTo, type Sql } from "../src/db/connect.ts";
import { type EmbeddedCluster, findPgBin, startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { embeddedUrl } from "../tests/_helpers/db.ts";

export interface BenchCluster {
  cluster: EmbeddedCluster;
  pgBin: string;
  /** Socket directory, port and user for any client (postgres.js, node-postgres, pgbench). */
  host: string;
  port: number;
  user: string;
  /** DATABASE_URL of database `name` (socket directory as libpq-style `host`), for children. */
  url(name: string): string;
  /** URL of the cluster's own database, for a child that creates and drops databases. */
  adminUrl: string;
  /** A pool on database `name` of this cluster. */
  connect(name: string, max?: number): Sql;
  /** Creates an empty database (or a copy of `template`) and returns its name. */
  createDatabase(template?: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** A database with Sluice's migrations applied, to clone per run. */
  sluiceTemplate(): Promise<string>;
  serverVersion(): Promise<string>;
  stop(): Promise<void>;
}

export async function startBenchCluster(): Promise<BenchCluster> {
  const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-bench-" });
  // Enough connections for pgbench -c 50 plus the workers' pools; everything else default.
  const cluster = await startEmbedded({ dataDir, settings: { max_connections: "200" } });
  const pgBin = await findPgBin(null);
  const c = cluster.connection;
  const admin = connectTo(c, { max: 1 });
  let counter = 0;
  let template: Promise<string> | null = null;
  const connect = (name: string, max = 10) => connectTo({ ...c, database: name }, { max });
  const createDatabase = async (from?: string) => {
    const name = `bench_${Date.now().toString(36)}_${counter++}`;
    await admin.unsafe(`CREATE DATABASE ${name}${from ? ` TEMPLATE ${from}` : ""}`);
    return name;
  };
  return {
    cluster,
    pgBin,
    host: c.host,
    port: c.port,
    user: c.username,
    url: (name) => embeddedUrl(c.host, c.port, name, c.username),
    adminUrl: embeddedUrl(c.host, c.port, c.database, c.username),
    connect,
    createDatabase,
    dropDatabase: async (name) => {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    sluiceTemplate: () =>
      template ??= (async () => {
        const name = await createDatabase();
        const sql = connect(name, 1);
        await migrate(sql);
        await sql.end();
        return name;
      })(),
    serverVersion: async () => {
      const [r] = await admin<[{ server_version: string }]>`SHOW server_version`;
      return r.server_version;
    },
    stop: async () => {
      await admin.end({ timeout: 5 });
      await cluster.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}
