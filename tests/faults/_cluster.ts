/**
 * A PostgreSQL cluster the test owns (the shared test cluster must never be restarted): the
 * embedded-cluster code in a temp dir, migrated, plus `pg_ctl` as the server's user.
 */
import { openDatabase, type Sql } from "../../src/db/connect.ts";
import { type EmbeddedCluster, findPgBin, startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { embeddedUrl, TEST_CLUSTER_SETTINGS } from "../_helpers/db.ts";

export interface OwnCluster {
  cluster: EmbeddedCluster;
  url: string;
  sql: Sql;
  /** `pg_ctl <args> -D <cluster>` as the server's user; throws on a non-zero exit. */
  pgCtl(...args: string[]): Promise<void>;
  dispose(): Promise<void>;
}

export async function startOwnCluster(): Promise<OwnCluster> {
  const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-fault-" });
  // Durable commits: the scenarios crash this cluster (`-m immediate`), and with
  // synchronous_commit off a crash forgets the last commits, which the ledger reports as lost
  // jobs. fsync stays off: the OS does not crash, so its page cache keeps what was written.
  const cluster = await startEmbedded({
    dataDir,
    settings: { ...TEST_CLUSTER_SETTINGS, synchronous_commit: "on" },
  });
  const c = cluster.connection;
  const url = embeddedUrl(c.host, c.port, c.database, c.username);
  const sql = await openDatabase({ databaseUrl: url, dataDir: "", max: 10 });
  await migrate(sql);
  const bin = await findPgBin(null);
  const pgCtl = async (...args: string[]) => {
    // `-l`: a (re)started postmaster must not inherit our stdout pipe, or `output()` would
    // wait for it to exit.
    const pg = `${cluster.dataDir}/pg`;
    const argv = [`${bin}/pg_ctl`, ...args, "-D", pg, "-l", `${pg}/server.log`, "-s"];
    const [cmd, ...rest] = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...argv] : argv;
    const out = await new Deno.Command(cmd!, {
      args: rest,
      cwd: "/",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (out.code !== 0) {
      throw new Error(`pg_ctl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  return {
    cluster,
    url,
    sql,
    pgCtl,
    dispose: async () => {
      await sql.end({ timeout: 1 }).catch(() => {});
      await cluster.stop().catch(() => {});
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}
