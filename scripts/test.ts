/**
 * `deno task test`: one PostgreSQL for the whole run, then `deno test`.
 *
 *   deno run -A scripts/test.ts [extra deno test args]
 *
 * Without DATABASE_URL it starts a throwaway embedded cluster in /tmp/sluice-test-XXXX (short
 * path: the unix socket limit), with durability off; with DATABASE_URL it uses that server.
 * Either way it (re)creates the migrated template database `sluice_template`, then runs
 * `deno test -A --parallel tests/ <args>` (just `<args>` when they name test files or folders)
 * with, for tests/_helpers/db.ts:
 *   SLUICE_TEST_DATABASE_URL  admin URL of the server (socket form: `…?host=/socket/dir`)
 *   SLUICE_TEST_TEMPLATE      sluice_template
 * and exits with deno test's exit code. The cluster is stopped on exit, also on Ctrl-C.
 */
import { type EmbeddedCluster, startEmbedded } from "../src/db/embedded.ts";
import {
  createTemplateDatabase,
  embeddedUrl,
  TEST_CLUSTER_SETTINGS,
} from "../tests/_helpers/db.ts";

const TEMPLATE = "sluice_template";

async function main(args: string[]): Promise<number> {
  let cluster: EmbeddedCluster | null = null;
  let tempDir: string | null = null;
  let child: Deno.ChildProcess | null = null;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    // The child usually got the terminal's SIGINT too; make sure it goes on SIGTERM.
    try {
      child?.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    let adminUrl = Deno.env.get("DATABASE_URL") || null;
    if (!adminUrl) {
      tempDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-test-" });
      const t0 = performance.now();
      cluster = await startEmbedded({ dataDir: tempDir, settings: TEST_CLUSTER_SETTINGS });
      const c = cluster.connection;
      adminUrl = embeddedUrl(c.host, c.port, c.database, c.username);
      console.error(
        `test PostgreSQL ready in ${Math.round(performance.now() - t0)} ms (socket '${c.host}')`,
      );
    }
    if (interrupted) return 130;
    await createTemplateDatabase(adminUrl, TEMPLATE);

    const namesPaths = await Promise.all(
      args.filter((a) => !a.startsWith("-")).map((a) => Deno.stat(a).then(() => true, () => false)),
    );
    const paths = namesPaths.some((x) => x) ? [] : ["tests/"];
    child = new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--parallel", ...paths, ...args],
      env: {
        NO_COLOR: "1",
        SLUICE_TEST_DATABASE_URL: adminUrl,
        SLUICE_TEST_TEMPLATE: TEMPLATE,
      },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await child.status;
    return interrupted ? 130 : status.code;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    if (cluster) await cluster.stop().catch((e) => console.error(`warning: ${e.message}`));
    if (tempDir) await Deno.remove(tempDir, { recursive: true }).catch(() => {});
  }
}

Deno.exit(await main(Deno.args));
