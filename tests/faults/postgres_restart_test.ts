/**
 * Fault: PostgreSQL restarts (`pg_ctl restart -m immediate`, a crash and recovery) under
 * worker load, on a cluster the test owns. (The api part of this scenario lands with the api.)
 */
import { ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { waitFor } from "../_helpers/wait.ts";
import { startOwnCluster } from "./_cluster.ts";
import { Ledger } from "./_ledger.ts";
import {
  FULL,
  LEASE_MS,
  REAPER_MS,
  type SluiceProcess,
  spawnSluice,
  started,
  stopAll,
  tempExecFile,
} from "./_procs.ts";

Deno.test("PostgreSQL restart under load: every role reconnects within 10 s, I1-I4 hold", async () => {
  const own = await startOwnCluster();
  const sql = own.sql;
  const execFile = await tempExecFile();
  const ledger = new Ledger(sql, { execFile });
  ledger.crashed(); // `pg_ctl restart -m immediate` below
  const procs: SluiceProcess[] = [];
  let producing = true;
  let producer: Promise<void> = Promise.resolve();
  try {
    await createQueue(sql, "load", { delivery: { mode: "exec", command: ledger.execCommand() } });
    const up = spawnSluice("up1", "up", own.url, { SLUICE_QUEUES: "load" });
    const worker = spawnSluice("w2", "worker", own.url, { SLUICE_QUEUES: "load" });
    procs.push(up, worker);
    await Promise.all([started(up), started(worker)]);
    ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });

    // A steady producer; a batch whose answer is lost in the crash is "uncertain": its rows
    // may or may not exist, and I2 allows both (but nothing else).
    let batch = 0;
    producer = (async () => {
      while (producing) {
        const tag = `batch-${batch++}`;
        try {
          const rs = await enqueueJobs(
            sql,
            Array.from({ length: 5 }, () => ({ queue: "load", kind: "sleep:0.05", tags: [tag] })),
          );
          ledger.accept(rs.map((r) => r.job.id));
        } catch {
          ledger.uncertain(tag);
        }
        await new Promise((r) => setTimeout(r, 100)); // scenario: a steady stream
      }
    })();
    // Scenario, not a wait: traffic flows for this long before the restart.
    await new Promise((r) => setTimeout(r, FULL ? 5_000 : 1_000));

    const outageFrom = Date.now();
    await own.pgCtl("restart", "-m", "immediate", "-w", "-t", "60");
    const backAt = Date.now();
    // DESIGN/issue: back within 10 s, in every profile (measured 0.6–0.9 s since the driver's
    // reconnect backoff is capped: src/db/connect.ts).
    const deadline = backAt + 10_000;
    const left = () => Math.max(500, deadline - Date.now());

    // Every role works again: each worker leases a job after PostgreSQL is back, the `up`
    // role's reaper recovers a planted expired lease, and both LISTEN connections return.
    // Reconnected = each worker wrote its heartbeat row after the restart. Which worker wins
    // the next leases is a race (with prefetch one may take the whole trickle), so leases only
    // show that work flows again.
    await waitFor(async () => {
      const rows = await sql<{ id: string }[]>`
        SELECT id FROM sluice.workers
        WHERE last_seen_at > ${new Date(backAt)} AND id IN ('up1', 'w2')`;
      return rows.length === 2;
    }, { timeoutMs: left(), intervalMs: 100, what: "both workers to heartbeat again" })
      .catch(async (e) => {
        // Seen once under a loaded CI run (not reproduced alone): say which worker and why.
        const seen = await sql`SELECT id, last_seen_at FROM sluice.workers ORDER BY id`;
        const warnings = procs.map((p) =>
          `${p.name}: ${
            p.lines.filter((l) => l.level === "warn" || l.level === "error").slice(-15)
              .map((l) => JSON.stringify(l)).join("\n  ")
          }`
        );
        throw new Error(
          `${(e as Error).message}\nrestart done at ${new Date(backAt).toISOString()}; workers: ${
            JSON.stringify(seen)
          }\n${warnings.join("\n")}`,
        );
      });
    await waitFor(async () => {
      const [r] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM sluice.jobs
        WHERE leased_at > ${new Date(backAt)} AND worker_id IN ('up1', 'w2')`;
      return r!.n > 0;
    }, { timeoutMs: left(), intervalMs: 100, what: "a worker to lease again" });
    await ledger.reaperRuns("load", { timeoutMs: left(), what: "the reaper to run again" });
    await waitFor(async () => {
      const [r] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'listen%'`;
      return r!.n >= 2;
    }, {
      timeoutMs: left(),
      intervalMs: 100,
      what: "both LISTEN connections to come back",
    });
    const recoveredMs = Date.now() - backAt;
    ledger.exempt(outageFrom, backAt + recoveredMs);
    // Each role's first lease after the restart, from PostgreSQL's clock.
    const firsts = await sql<{ worker_id: string; ms: number }[]>`
      SELECT worker_id, (extract(epoch FROM min(leased_at)) * 1000 - ${backAt})::int AS ms
      FROM sluice.jobs WHERE leased_at > ${new Date(backAt)} GROUP BY worker_id`;

    producing = false;
    await producer;
    await ledger.settle(30_000);
    const summary = await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });

    // Errors at a bounded rate: the outage lasted about (backAt - outageFrom) ms; allow a
    // burst per connection plus a few lines per second, not one per query.
    for (const p of procs) {
      const errs = p.lines.filter((l, i) =>
        (l.level === "error" || l.level === "warn") && p.receivedAt[i]! >= outageFrom
      ).length;
      const seconds = (Date.now() - outageFrom) / 1000;
      assert(errs <= 20 + 5 * seconds, `${p.name} logged ${errs} errors in ${seconds} s`);
    }
    console.log(
      `restart: down ${backAt - outageFrom} ms, all roles back ${recoveredMs} ms after, first ` +
        `leases ${JSON.stringify(firsts)}, ` +
        JSON.stringify(summary),
    );
  } catch (e) {
    for (const p of procs) console.error(`--- ${p.name}\n${p.dump()}`);
    throw e;
  } finally {
    producing = false;
    await producer;
    ledger.stopWatch();
    await stopAll(procs);
    await own.dispose();
    await Deno.remove(execFile).catch(() => {});
  }
});
