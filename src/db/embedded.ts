/**
 * Embedded PostgreSQL: a private cluster in `<dataDir>/pg`, created with the host's own
 * `initdb`/`pg_ctl`, reachable only on a unix socket. `sluice up` starts it when no
 * `DATABASE_URL` is given; operator commands in another shell find it through
 * `<dataDir>/embedded.json`.
 *
 * Layout of `dataDir`:
 *   pg/              the cluster (PGDATA); `pg/server.log` is the server's log
 *   run/             the socket directory (unless its path is too long, see `socketDirFor`)
 *   embedded.json    {socketDir, port, database, user, pid} of the running server
 *   embedded.lock    serializes concurrent `startEmbedded` calls on the same dataDir
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import postgres from "postgres";
import { SluiceError } from "../errors.ts";

export interface EmbeddedConnection {
  /** The socket directory: postgres.js connects to `<host>/.s.PGSQL.<port>`. */
  host: string;
  port: number;
  database: string;
  username: string;
}

export interface EmbeddedCluster {
  connection: EmbeddedConnection;
  dataDir: string;
  /** `pg_ctl stop -m fast`, waiting until the server is gone. Safe to call more than once. */
  stop(): Promise<void>;
  /** `pg_ctl stop -m fast`, blocking: for `unload` handlers, where async work never finishes. */
  stopSync(): void;
}

export interface StartEmbeddedOptions {
  dataDir: string;
  /** Directory holding `pg_ctl`/`initdb` (`SLUICE_PG_BIN`); searched for when absent. */
  pgBin?: string | null;
  log?: (line: string) => void;
  /**
   * Extra server settings for this start only (e.g. `{ fsync: "off" }` for throwaway test
   * clusters). Production callers leave it out: durability settings stay at their defaults.
   */
  settings?: Record<string, string>;
}

interface StateFile {
  socketDir: string;
  port: number;
  database: string;
  user: string;
  pid: number;
}

const SUPERUSER = "sluice";
const DATABASE = "sluice";
// Socket only, so the port just names the socket file; each cluster has its own socket dir.
const PORT = 5432;
// sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;
const START_TIMEOUT_S = 60;

const NOT_FOUND_MESSAGE =
  "no PostgreSQL server binaries (initdb, pg_ctl) found in SLUICE_PG_BIN, PATH or " +
  "'/usr/lib/postgresql/*/bin': install PostgreSQL (e.g. `apt-get install postgresql`), " +
  "set DATABASE_URL to use an existing server, or run `docker compose up db`";

/**
 * The directory holding `pg_ctl` and `initdb`: `explicit` (`SLUICE_PG_BIN`) when given, then
 * the first `PATH` entry with `pg_ctl`, then `/usr/lib/postgresql/<version>/bin`, newest first.
 * `search` exists for tests.
 */
export async function findPgBin(
  explicit?: string | null,
  search: { path?: string; roots?: string[] } = {},
): Promise<string> {
  if (explicit) {
    if (await hasServerBinaries(explicit)) return explicit;
    throw new SluiceError(
      "EMBEDDED_PG_UNAVAILABLE",
      `SLUICE_PG_BIN '${explicit}' does not contain initdb and pg_ctl: point it at PostgreSQL's ` +
        "bin directory (e.g. '/usr/lib/postgresql/15/bin') or unset it",
    );
  }
  const path = search.path ?? Deno.env.get("PATH") ?? "";
  for (const dir of path.split(":")) {
    if (dir && await hasServerBinaries(dir)) return dir;
  }
  for (const root of search.roots ?? ["/usr/lib/postgresql"]) {
    const versions: string[] = [];
    try {
      for await (const e of Deno.readDir(root)) versions.push(e.name);
    } catch {
      continue;
    }
    // Numeric, newest first: "15" before "9.6".
    versions.sort((a, b) => parseFloat(b) - parseFloat(a));
    for (const v of versions) {
      const dir = `${root}/${v}/bin`;
      if (await hasServerBinaries(dir)) return dir;
    }
  }
  throw new SluiceError("EMBEDDED_PG_UNAVAILABLE", NOT_FOUND_MESSAGE);
}

async function hasServerBinaries(dir: string): Promise<boolean> {
  for (const name of ["pg_ctl", "initdb"]) {
    try {
      const st = await Deno.stat(`${dir}/${name}`);
      if (!st.isFile || ((st.mode ?? 0o111) & 0o111) === 0) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Creates the cluster on first use, starts it and creates the `sluice` database. Refuses
 * (`EMBEDDED_PG_RUNNING`) when a server already runs on this dataDir.
 */
export async function startEmbedded(opts: StartEmbeddedOptions): Promise<EmbeddedCluster> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  await Deno.mkdir(dataDir, { recursive: true });
  const bin = await findPgBin(opts.pgBin ?? null);
  const owner = await serverOwner();
  const clusterDir = `${dataDir}/pg`;

  // Two `startEmbedded` on one dataDir at once must not both run initdb or both write the
  // config: the second waits here, then sees the first one's server and refuses.
  const lock = await Deno.open(`${dataDir}/embedded.lock`, { create: true, write: true });
  try {
    await lock.lock(true);
    const runningPid = await livePostmaster(bin, owner, clusterDir, log);
    if (runningPid !== null) {
      throw new SluiceError(
        "EMBEDDED_PG_RUNNING",
        `an embedded PostgreSQL is already running in '${dataDir}' (pid ${runningPid}): stop ` +
          "the `sluice up` that owns it, use it from this shell as it is (operator commands " +
          `find it), or stop it with \`pg_ctl stop -D '${clusterDir}'\``,
        { dataDir, pid: runningPid },
      );
    }

    if (owner) await prepareForOwner(dataDir, owner);
    if (!(await exists(`${clusterDir}/PG_VERSION`))) {
      await initCluster(bin, owner, clusterDir, log);
    }

    const socketDir = await socketDirFor(dataDir);
    await Deno.mkdir(socketDir, { recursive: true, mode: 0o700 });
    if (owner) await Deno.chown(socketDir, owner.uid, owner.gid);
    await writeRuntimeConfig(clusterDir, socketDir, opts.settings ?? {}, owner);

    const t0 = performance.now();
    const startArgs = ["start", "-D", clusterDir, "-l", `${clusterDir}/server.log`, "-w"];
    let started = await pgCtl(bin, owner, [...startArgs, "-t", String(START_TIMEOUT_S), "-s"]);
    // Right after a crash the old backends may still hold the shared memory for a moment
    // (they exit once they notice the postmaster is gone): retry for a few seconds.
    for (let i = 0; i < 20 && started.code !== 0; i++) {
      if (!(await logTail(clusterDir)).includes("pre-existing shared memory block")) break;
      await new Promise((r) => setTimeout(r, 250));
      started = await pgCtl(bin, owner, [...startArgs, "-t", String(START_TIMEOUT_S), "-s"]);
    }
    if (started.code !== 0) {
      throw new SluiceError(
        "EMBEDDED_PG_UNAVAILABLE",
        `embedded PostgreSQL in '${clusterDir}' failed to start: ` +
          `${(started.stderr || started.stdout).trim()}\n${await logTail(clusterDir)}`,
      );
    }
    log(
      `embedded PostgreSQL started in ${Math.round(performance.now() - t0)} ms, socket ` +
        `'${socketDir}'`,
    );

    const connection: EmbeddedConnection = {
      host: socketDir,
      port: PORT,
      database: DATABASE,
      username: SUPERUSER,
    };
    const pid = (await postmasterPid(clusterDir)) ?? 0;
    const cluster = makeCluster(bin, owner, dataDir, connection, pid, log);
    try {
      await ensureDatabase(connection, log);
      const state: StateFile = {
        socketDir,
        port: PORT,
        database: DATABASE,
        user: SUPERUSER,
        pid,
      };
      // Write-then-rename: a reader in another shell never sees half a file.
      await Deno.writeTextFile(`${dataDir}/embedded.json.tmp`, JSON.stringify(state) + "\n");
      await Deno.rename(`${dataDir}/embedded.json.tmp`, `${dataDir}/embedded.json`);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  } finally {
    lock.close();
  }
}

/**
 * The connection of the embedded server that runs in `dataDir`, or null when none does
 * (no state file, or nothing accepts connections on its socket).
 */
export async function findRunningEmbedded(dataDir: string): Promise<EmbeddedConnection | null> {
  const dir = resolve(dataDir);
  let state: StateFile;
  try {
    state = JSON.parse(await Deno.readTextFile(`${dir}/embedded.json`));
  } catch {
    return null;
  }
  if (!(await exists(`${dir}/pg/postmaster.pid`))) return null;
  try {
    const conn = await Deno.connect({
      transport: "unix",
      path: `${state.socketDir}/.s.PGSQL.${state.port}`,
    });
    conn.close();
  } catch {
    return null;
  }
  return {
    host: state.socketDir,
    port: state.port,
    database: state.database,
    username: state.user,
  };
}

function makeCluster(
  bin: string,
  owner: Owner | null,
  dataDir: string,
  connection: EmbeddedConnection,
  pid: number,
  log: (line: string) => void,
): EmbeddedCluster {
  let stopping: Promise<void> | null = null;
  const clusterDir = `${dataDir}/pg`;
  async function stop(): Promise<void> {
    // Already down (a Ctrl-C reached it first, or it crashed): nothing to stop.
    // A different pid is a later server on the same dataDir: not ours to stop.
    if ((await livePostmaster(bin, owner, clusterDir, () => {})) !== pid) {
      await cleanUp();
      return;
    }
    const res = await pgCtl(bin, owner, ["stop", "-D", clusterDir, "-m", "fast", "-w", "-s"]);
    if (res.code !== 0 && (await livePostmaster(bin, owner, clusterDir, () => {})) !== null) {
      stopping = null; // let a later call try again
      throw new SluiceError(
        "EMBEDDED_PG_UNAVAILABLE",
        `could not stop embedded PostgreSQL in '${clusterDir}': ${res.stderr.trim()}`,
      );
    }
    await cleanUp();
    log("embedded PostgreSQL stopped");
  }
  async function cleanUp(): Promise<void> {
    await Deno.remove(`${dataDir}/embedded.json`).catch(() => {});
    // A short socket dir under /tmp is ours alone and empty once the server is down.
    if (!connection.host.startsWith(dataDir)) await Deno.remove(connection.host).catch(() => {});
  }
  function stopSync(): void {
    const [cmd, args] = asOwner(owner, `${bin}/pg_ctl`, [
      "stop",
      "-D",
      clusterDir,
      "-m",
      "fast",
      "-w",
      "-s",
    ]);
    new Deno.Command(cmd, { args, cwd: "/", stdin: "null", stdout: "null", stderr: "null" })
      .outputSync();
    try {
      Deno.removeSync(`${dataDir}/embedded.json`);
    } catch { /* already gone */ }
  }
  return {
    connection,
    dataDir,
    stop: () => (stopping ??= stop()),
    stopSync,
  };
}

interface Owner {
  user: string;
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` system user
 * and every server binary runs through `runuser`. Null when we are not root.
 */
async function serverOwner(): Promise<Owner | null> {
  if (Deno.uid() !== 0) return null;
  let passwd = "";
  try {
    passwd = await Deno.readTextFile("/etc/passwd");
  } catch { /* treated as missing user below */ }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === "postgres" && f[2] && f[3]) {
      return { user: "postgres", uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  throw new SluiceError(
    "EMBEDDED_PG_UNAVAILABLE",
    "PostgreSQL refuses to run as root and there is no 'postgres' system user to run the " +
      "embedded cluster: create it (`useradd --system --user-group --home-dir /var/lib/postgresql " +
      "postgres`), run sluice as a non-root user, or set DATABASE_URL",
  );
}

/** The `postgres` user must be able to reach `<dataDir>/pg` and own it. */
async function prepareForOwner(dataDir: string, owner: Owner): Promise<void> {
  // Traversal only (o+x), so the server user can reach its own subdirectory; nothing in
  // dataDir becomes readable to it or anyone else.
  const st = await Deno.stat(dataDir);
  const mode = st.mode ?? 0o700;
  if ((mode & 0o001) === 0) await Deno.chmod(dataDir, (mode & 0o7777) | 0o001);
  await Deno.mkdir(`${dataDir}/pg`, { recursive: true, mode: 0o700 });
  await Deno.chown(`${dataDir}/pg`, owner.uid, owner.gid);
  const probe = await run("runuser", ["-u", owner.user, "--", "test", "-w", `${dataDir}/pg`]);
  if (probe.code !== 0) {
    throw new SluiceError(
      "EMBEDDED_PG_UNAVAILABLE",
      `the 'postgres' user cannot reach '${dataDir}/pg': give it search permission (o+x) on ` +
        `every parent directory of '${dataDir}', choose another SLUICE_DATA_DIR, or set DATABASE_URL`,
    );
  }
}

async function initCluster(
  bin: string,
  owner: Owner | null,
  clusterDir: string,
  log: (line: string) => void,
): Promise<void> {
  const t0 = performance.now();
  await Deno.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  // A half-made cluster (initdb killed midway) has no PG_VERSION: initdb needs an empty dir.
  for await (const _ of Deno.readDir(clusterDir)) {
    throw new SluiceError(
      "EMBEDDED_PG_UNAVAILABLE",
      `'${clusterDir}' is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it ` +
        "away or delete it, then start again",
    );
  }
  const res = await runAs(owner, `${bin}/initdb`, [
    "-D",
    clusterDir,
    "-U",
    SUPERUSER,
    "--auth=trust",
    "-E",
    "UTF8",
    // C collation: identical on every host, so a copied data dir never hits a glibc mismatch.
    "--locale=C",
  ]);
  if (res.code !== 0) {
    throw new SluiceError(
      "EMBEDDED_PG_UNAVAILABLE",
      `initdb failed for '${clusterDir}': ${(res.stderr || res.stdout).trim()}`,
    );
  }
  // Modest settings for a small appliance; durability (fsync, synchronous_commit) stays on.
  // Per-start settings live in sluice_runtime.conf so a moved dataDir just works.
  await Deno.writeTextFile(
    `${clusterDir}/postgresql.conf`,
    [
      "",
      "# Added by sluice (src/db/embedded.ts) for a small appliance.",
      "shared_buffers = 128MB",
      "max_connections = 100",
      "log_line_prefix = '%m [%p] '",
      "include_if_exists = 'sluice_runtime.conf'",
      "",
    ].join("\n"),
    { append: true },
  );
  log(
    `embedded PostgreSQL cluster created in ${Math.round(performance.now() - t0)} ms at ` +
      `'${clusterDir}'`,
  );
}

async function writeRuntimeConfig(
  clusterDir: string,
  socketDir: string,
  extra: Record<string, string>,
  owner: Owner | null,
): Promise<void> {
  const settings: Record<string, string> = {
    // Unix socket only: nothing listens on the network, and the socket dir is private (0700).
    listen_addresses: "",
    unix_socket_directories: socketDir,
    unix_socket_permissions: "0700",
    port: String(PORT),
    ...extra,
  };
  const text = "# Written by sluice on every start; edits are overwritten.\n" +
    Object.entries(settings).map(([k, v]) => `${k} = '${v.replaceAll("'", "''")}'`).join("\n") +
    "\n";
  const file = `${clusterDir}/sluice_runtime.conf`;
  await Deno.writeTextFile(file, text, { mode: 0o600 });
  if (owner) await Deno.chown(file, owner.uid, owner.gid);
}

/**
 * `<dataDir>/run`, unless `<dir>/.s.PGSQL.5432` would not fit a unix socket path: then a short
 * directory under /tmp named after a hash of dataDir (stable across restarts, recorded in
 * embedded.json).
 */
async function socketDirFor(dataDir: string): Promise<string> {
  const inside = `${dataDir}/run`;
  if (new TextEncoder().encode(`${inside}/.s.PGSQL.${PORT}`).length < MAX_SOCKET_PATH) {
    return inside;
  }
  const hash = createHash("sha256").update(dataDir).digest("hex").slice(0, 16);
  const dir = `/tmp/sluice-pg-${hash}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

async function ensureDatabase(
  c: EmbeddedConnection,
  log: (line: string) => void,
): Promise<void> {
  const sql = postgres({
    host: c.host,
    port: c.port,
    database: "postgres",
    username: c.username,
    max: 1,
    onnotice: () => {},
  });
  try {
    const rows = await sql`SELECT 1 FROM pg_database WHERE datname = ${c.database}`;
    if (rows.length === 0) {
      await sql.unsafe(`CREATE DATABASE ${c.database}`);
      log(`created database '${c.database}'`);
    }
  } finally {
    await sql.end();
  }
}

async function pgCtl(bin: string, owner: Owner | null, args: string[]) {
  return await runAs(owner, `${bin}/pg_ctl`, args);
}

async function runAs(owner: Owner | null, cmd: string, args: string[]) {
  return await run(...asOwner(owner, cmd, args));
}

function asOwner(owner: Owner | null, cmd: string, args: string[]): [string, string[]] {
  return owner ? ["runuser", ["-u", owner.user, "--", cmd, ...args]] : [cmd, args];
}

async function run(cmd: string, args: string[]) {
  // cwd "/": the server user may not be able to enter our working directory.
  const out = await new Deno.Command(cmd, {
    args,
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * The pid of the postmaster that runs `clusterDir`, or null. A postmaster killed while its
 * parent (PID 1 in containers and micro-VMs) does not reap it stays a zombie that `kill -0`,
 * and so `pg_ctl` and postgres itself, still count as running: then the stale
 * `postmaster.pid` is removed so a restart works. Postgres still refuses to start while any
 * old backend is attached to the old shared memory, so this cannot run two servers at once.
 */
async function livePostmaster(
  bin: string,
  owner: Owner | null,
  clusterDir: string,
  log: (line: string) => void,
): Promise<number | null> {
  const pid = await postmasterPid(clusterDir);
  if (pid === null) return null;
  let stat: string | null = null;
  try {
    stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null; // gone: postgres ignores a stale file
  }
  if (stat !== null) {
    // Format: "pid (comm) S …": the state letter follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    // Z (zombie: PID 1 here does not reap) and X (being torn down) are both dead servers.
    if (state !== "Z" && state !== "X") return pid;
    // postmaster.pid lines: pid, data dir, start time, port, socket dir, …. The socket's
    // lock file names the same dead pid and would block the restart just the same.
    const lines = (await Deno.readTextFile(`${clusterDir}/postmaster.pid`).catch(() => ""))
      .split("\n");
    if (lines[3] && lines[4]) {
      await Deno.remove(`${lines[4]}/.s.PGSQL.${lines[3]}.lock`).catch(() => {});
    }
    await Deno.remove(`${clusterDir}/postmaster.pid`).catch(() => {});
    log(`removed stale postmaster.pid of dead server (pid ${pid})`);
    return null;
  }
  // No /proc (not Linux): pg_ctl decides.
  const status = await pgCtl(bin, owner, ["status", "-D", clusterDir]);
  return status.code === 0 ? pid : null;
}

async function postmasterPid(clusterDir: string): Promise<number | null> {
  try {
    const first = (await Deno.readTextFile(`${clusterDir}/postmaster.pid`)).split("\n")[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function logTail(clusterDir: string): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(`${clusterDir}/server.log`)).trimEnd().split("\n");
    return lines.slice(-10).join("\n");
  } catch {
    return "";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
