/**
 * A primary and a streaming standby the test owns, both on 127.0.0.1 (TCP, different ports),
 * for failover scenarios: `pg_basebackup -R -X stream` from the primary, optionally with
 * synchronous replication (`synchronous_standby_names`), `pg_ctl stop -m immediate` and
 * `pg_ctl promote` to fail over. The server binaries run as `postgres` when we are root
 * (initdb refuses root).
 *
 * Roles: `postgres` (superuser, trust on loopback, for the test's own pool) and `sluice`
 * (password, scram) for the processes under test, so a password rotation can be exercised.
 */
import { freePort } from "../_helpers/net.ts";
import { dirname } from "node:path";
import postgres from "postgres";
import { findPgBin } from "../../src/db/embedded.ts";

export interface Node {
  name: string;
  port: number;
  dir: string;
}

export interface ReplicaPair {
  primary: Node;
  standby: Node;
  /** Multi-host URL for `role` (password in the URL when given), read-write sessions only. */
  url(role: "postgres" | "sluice", password?: string): string;
  /** `pg_ctl <args> -D <node>` as the server's user; throws on a non-zero exit. */
  pgCtl(node: Node, ...args: string[]): Promise<void>;
  dispose(): Promise<void>;
}

export const DATABASE = "sluice";

async function run(bin: string, args: string[]): Promise<string> {
  const argv = [bin, ...args];
  const [cmd, ...rest] = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...argv] : argv;
  const out = await new Deno.Command(cmd!, {
    args: rest,
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`${bin.split("/").pop()} ${args.join(" ")}: ${text}`);
  return text;
}

export async function startReplicaPair(
  { synchronous, initialPassword }: { synchronous: boolean; initialPassword: string },
): Promise<ReplicaPair> {
  // The real directory: a PATH shim for pg_ctl may not come with pg_basebackup next to it.
  const bin = dirname(await Deno.realPath(`${await findPgBin(null)}/pg_ctl`));
  const root = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-ha-" });
  if (Deno.uid() === 0) await chownToPostgres(root);
  const primary: Node = { name: "primary", port: freePort(), dir: `${root}/primary` };
  const standby: Node = { name: "standby", port: freePort(), dir: `${root}/standby` };
  const pgCtl = async (node: Node, ...args: string[]) => {
    // `-l`: a started postmaster must not inherit our stdout pipe.
    await run(`${bin}/pg_ctl`, [...args, "-D", node.dir, "-l", `${node.dir}/server.log`, "-s"]);
  };
  try {
    await run(`${bin}/initdb`, ["-D", primary.dir, "-U", "postgres", "--auth=trust", "-N"]);
    await Deno.writeTextFile(
      `${primary.dir}/pg_hba.conf`,
      [
        "local all all trust",
        "host all sluice 127.0.0.1/32 scram-sha-256",
        "host all all 127.0.0.1/32 trust",
        "host replication all 127.0.0.1/32 trust",
        "",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${primary.dir}/postgresql.conf`,
      [
        "",
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${root}'`,
        `port = ${primary.port}`,
        "wal_level = replica",
        "max_wal_senders = 5",
        "hot_standby = on",
        // The OS does not crash in these scenarios; `-m immediate` does, which fsync off
        // survives (the page cache keeps what was written). Commits stay durable.
        "fsync = off",
        "synchronous_commit = on",
        "cluster_name = 'primary'",
        "shared_buffers = 32MB",
        "max_connections = 100",
        "",
      ].join("\n"),
      { append: true },
    );
    await pgCtl(primary, "start", "-w", "-t", "60");
    const admin = superuser(primary);
    try {
      await admin.unsafe(`CREATE ROLE sluice LOGIN PASSWORD '${initialPassword}'`);
      await admin.unsafe(`CREATE DATABASE ${DATABASE} OWNER sluice`);
    } finally {
      await admin.end();
    }
    await run(`${bin}/pg_basebackup`, [
      "-h",
      "127.0.0.1",
      "-p",
      String(primary.port),
      "-U",
      "postgres",
      "-D",
      standby.dir,
      "-R",
      "-X",
      "stream",
      // An immediate checkpoint: the default spreads it over checkpoint_timeout (minutes).
      "-c",
      "fast",
    ]);
    // The walreceiver's application_name is the cluster_name, which synchronous_standby_names
    // names on the primary.
    await Deno.writeTextFile(
      `${standby.dir}/postgresql.conf`,
      `\nport = ${standby.port}\ncluster_name = 'standby'\n`,
      { append: true },
    );
    await pgCtl(standby, "start", "-w", "-t", "60");
    if (synchronous) {
      // Only now, and only on the primary (ALTER SYSTEM, not copied by the base backup): set
      // before a standby is attached, every commit would wait for it; on the promoted standby,
      // which has no standby of its own, it would block every commit after the failover.
      const admin = superuser(primary);
      try {
        await admin`ALTER SYSTEM SET synchronous_standby_names = 'standby'`;
        await admin`SELECT pg_reload_conf()`;
      } finally {
        await admin.end();
      }
    }
  } catch (e) {
    await disposeAll();
    throw e;
  }

  async function disposeAll() {
    for (const node of [primary, standby]) {
      await pgCtl(node, "stop", "-m", "immediate", "-w").catch(() => {});
    }
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }

  return {
    primary,
    standby,
    url: (role, password) => {
      const user = password ? `${role}:${encodeURIComponent(password)}` : role;
      return `postgres://${user}@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/` +
        `${DATABASE}?target_session_attrs=read-write`;
    },
    pgCtl,
    dispose: disposeAll,
  };
}

/** A one-connection superuser pool on `node` (trust on loopback), for the test's own set-up. */
export function superuser(node: Node, database = "postgres"): postgres.Sql {
  return postgres({
    host: "127.0.0.1",
    port: node.port,
    username: "postgres",
    database,
    max: 1,
    onnotice: () => {},
  });
}

async function chownToPostgres(path: string): Promise<void> {
  const out = await new Deno.Command("chown", { args: ["postgres:postgres", path] }).output();
  if (out.code !== 0) throw new Error(`chown ${path}: ${new TextDecoder().decode(out.stderr)}`);
}
