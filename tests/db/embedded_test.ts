import { waitFor } from "../_helpers/wait.ts";
import { ok as assert, rejects, strictEqual } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import { findPgBin, findRunningEmbedded, startEmbedded } from "../../src/db/embedded.ts";
import { connectTo, openDatabase } from "../../src/db/connect.ts";
import { TEST_CLUSTER_SETTINGS } from "../_helpers/db.ts";

Deno.test("findPgBin() finds the server binaries or says how to get them", async (t) => {
  await t.step("finds initdb and pg_ctl on this host", async () => {
    const bin = await findPgBin();
    assert((await Deno.stat(`${bin}/pg_ctl`)).isFile);
    assert((await Deno.stat(`${bin}/initdb`)).isFile);
  });

  await t.step("an explicit SLUICE_PG_BIN wins", async () => {
    const bin = await findPgBin();
    strictEqual(await findPgBin(bin, { path: "", roots: [] }), bin);
  });

  await t.step("a wrong SLUICE_PG_BIN is an error, not a fallback", async () => {
    await rejects(findPgBin("/nonexistent/bin"), (e) => {
      assert(isSluiceError(e, "EMBEDDED_PG_UNAVAILABLE"));
      assert(e.message.includes("SLUICE_PG_BIN '/nonexistent/bin'"), e.message);
      return true;
    });
  });

  await t.step("nothing found names the three ways out", async () => {
    await rejects(findPgBin(null, { path: "/nonexistent", roots: ["/nonexistent"] }), (e) => {
      assert(isSluiceError(e, "EMBEDDED_PG_UNAVAILABLE"));
      for (const way of ["apt-get install postgresql", "DATABASE_URL", "docker compose up db"]) {
        assert(e.message.includes(way), e.message);
      }
      return true;
    });
  });
});

Deno.test("startEmbedded() runs one cluster per data dir and survives a crash", async (t) => {
  const root = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-emb-" });
  // Deep enough that `<dataDir>/run/.s.PGSQL.5432` would not fit a unix socket path.
  const dataDir = `${root}/${"d".repeat(90)}`;
  // makeTempDir is 0700; as root the cluster runs as `postgres`, which must pass through.
  await Deno.chmod(root, 0o711);
  try {
    await t.step("first start creates the cluster and the sluice database quickly", async () => {
      const t0 = performance.now();
      const cluster = await startEmbedded({ dataDir, settings: TEST_CLUSTER_SETTINGS });
      const ms = performance.now() - t0;
      try {
        // The 15 s first-start target is measured by `deno task bench`, not asserted here.
        console.log(`first start (initdb included): ${Math.round(ms)} ms`);
        assert(cluster.connection.host.startsWith("/tmp/sluice-pg-"), cluster.connection.host);
        const state = JSON.parse(await Deno.readTextFile(`${dataDir}/embedded.json`));
        strictEqual(state.socketDir, cluster.connection.host);
        strictEqual(state.database, "sluice");
        strictEqual(state.user, "sluice");
        assert(Number.isInteger(state.pid) && state.pid > 0);

        const found = await findRunningEmbedded(dataDir);
        strictEqual(found?.host, cluster.connection.host);
        const sql = await openDatabase({ databaseUrl: null, dataDir });
        const [row] = await sql<[{ db: string; listen: string; fsync: string }]>`
          SELECT current_database() AS db, current_setting('listen_addresses') AS listen,
                 current_setting('shared_buffers') AS buffers
        `;
        strictEqual(row.db, "sluice");
        strictEqual(row.listen, "");
        await sql`CREATE TABLE survivor (x int)`;
        await sql`INSERT INTO survivor VALUES (42)`;
        await sql.end();
      } finally {
        await cluster.stop();
      }
      strictEqual(await findRunningEmbedded(dataDir), null);
      await cluster.stop(); // idempotent
    });

    await t.step("a second start on the same data dir is refused", async () => {
      // Both at once: the lock serializes them, the loser sees the winner's server.
      const results = await Promise.allSettled([
        startEmbedded({ dataDir, settings: TEST_CLUSTER_SETTINGS }),
        startEmbedded({ dataDir, settings: TEST_CLUSTER_SETTINGS }),
      ]);
      const ok = results.filter((r) => r.status === "fulfilled");
      const refused = results.filter((r) => r.status === "rejected");
      strictEqual(ok.length, 1);
      strictEqual(refused.length, 1);
      const reason = (refused[0] as PromiseRejectedResult).reason;
      assert(isSluiceError(reason, "EMBEDDED_PG_RUNNING"), String(reason));
      assert(reason.message.includes(`already running in '${dataDir}'`), reason.message);
      await (ok[0] as PromiseFulfilledResult<{ stop(): Promise<void> }>).value.stop();
    });

    await t.step("a stale postmaster.pid after a crash does not block a restart", async () => {
      const cluster = await startEmbedded({ dataDir, settings: TEST_CLUSTER_SETTINGS });
      const { pid } = JSON.parse(await Deno.readTextFile(`${dataDir}/embedded.json`));
      Deno.kill(pid, "SIGKILL");
      // The postmaster's children notice its death and exit on their own.
      await waitFor(async () => (await findRunningEmbedded(dataDir)) === null, {
        timeoutMs: 5_000,
        intervalMs: 50,
        what: "the killed cluster to stop answering",
      });
      strictEqual(await findRunningEmbedded(dataDir), null);
      // Refusing connections comes a moment before the kernel shows the process as dead.
      await waitFor(async () => {
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => null);
        return stat === null || /\) [ZX]/.test(stat);
      }, { what: `pid ${pid} to be dead` });
      assert((await Deno.stat(`${dataDir}/pg/postmaster.pid`)).isFile, "pid file left behind");

      const again = await startEmbedded({ dataDir, settings: TEST_CLUSTER_SETTINGS });
      try {
        const sql = connectTo(again.connection, { max: 1 });
        const [row] = await sql<[{ x: number }]>`SELECT x FROM survivor`;
        strictEqual(row.x, 42);
        await sql.end();
      } finally {
        await again.stop();
        await cluster.stop(); // the crashed one: already gone, must not throw
      }
    });

    await t.step("openDatabase() without a server says how to start one", async () => {
      await rejects(openDatabase({ databaseUrl: null, dataDir }), (e) => {
        assert(isSluiceError(e, "EMBEDDED_PG_NOT_RUNNING"));
        strictEqual(
          e.message,
          `no embedded PostgreSQL is running in '${dataDir}': start \`sluice up\` there or ` +
            "set DATABASE_URL",
        );
        return true;
      });
    });
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
