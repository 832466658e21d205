/**
 * Fault: the database password rotates under a running `sluice worker` configured with
 * `DATABASE_URL_FILE`. The role's password changes in PostgreSQL and in the file, every backend
 * of the role is terminated, and the worker carries on without a restart: its reconnects read
 * the new password from the file (src/db/credentials.ts).
 */
import { equal, ok as assert, rejects } from "node:assert/strict";
import postgres from "postgres";
import { openDatabase } from "../../src/db/connect.ts";
import { migrate } from "../../src/db/migrate.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { Ledger } from "./_ledger.ts";
import { startReplicaPair } from "./_replica.ts";
import { SluiceProcess, started, stopAll, tempExecFile } from "./_procs.ts";

Deno.test("password rotation with DATABASE_URL_FILE: reconnects use the new password, no restart", async () => {
  const pair = await startReplicaPair({ synchronous: false, initialPassword: "pw-one" });
  const urlFile = await Deno.makeTempFile({ dir: "/tmp", prefix: "sluice-url-" });
  const execFile = await tempExecFile();
  // The test's own pool: the superuser (trust on loopback), unaffected by the rotation.
  const sql = await openDatabase({ databaseUrl: pair.url("postgres"), dataDir: "", max: 3 });
  const ledger = new Ledger(sql, { execFile });
  let worker: SluiceProcess | null = null;
  try {
    // Schema owned by the role under test, as in production.
    const own = await openDatabase({ databaseUrl: pair.url("sluice", "pw-one"), dataDir: "" });
    await migrate(own).finally(() => own.end());
    await createQueue(sql, "rot", { delivery: { mode: "exec", command: ledger.execCommand() } });
    await Deno.writeTextFile(urlFile, pair.url("sluice", "pw-one") + "\n");
    worker = new SluiceProcess("w1", ["worker"], {
      DATABASE_URL_FILE: urlFile,
      SLUICE_QUEUES: "rot",
    });
    await started(worker);
    const enqueue = async (n: number) => {
      const rs = await enqueueJobs(
        sql,
        Array.from({ length: n }, () => ({ queue: "rot", kind: "sleep:0" })),
      );
      ledger.accept(rs.map((r) => r.job.id));
    };
    await enqueue(3);
    await ledger.settle(15_000);

    const rotatedAt = new Date();
    await sql`ALTER ROLE sluice PASSWORD 'pw-two'`;
    await Deno.writeTextFile(urlFile, pair.url("sluice", "pw-two") + "\n");
    // SIGHUP checks the file at once (and must not end the process).
    const from = worker.lines.length;
    worker.signal("SIGHUP");
    await worker.waitLog("database_url_file_reloaded", { from, timeoutMs: 10_000 });
    const [killed] = await sql<{ n: number }[]>`
      SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE usename = 'sluice'`;
    assert(killed!.n > 0, "the worker had connections to terminate");
    // The old password is really gone: a reconnect with it would fail.
    const stale = postgres(pair.url("sluice", "pw-one"), { max: 1, onnotice: () => {} });
    await rejects(stale`SELECT 1`, (e: { code?: string }) => e.code === "28P01");
    await stale.end();

    await enqueue(3);
    await ledger.settle(15_000);
    equal(worker.exited, false, "the worker kept running");
    const [back] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE usename = 'sluice' AND backend_start > ${rotatedAt}`;
    assert(back!.n > 0, "the worker logged in again, with the new password");
    const [done] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM sluice.jobs WHERE state = 'succeeded'`;
    equal(done!.n, 6);
  } catch (e) {
    if (worker) console.error(`--- ${worker.name}\n${worker.dump()}`);
    throw e;
  } finally {
    ledger.stopWatch();
    if (worker) await stopAll([worker]);
    await sql.end({ timeout: 1 }).catch(() => {});
    await pair.dispose();
    await Deno.remove(urlFile).catch(() => {});
    await Deno.remove(execFile).catch(() => {});
  }
});
