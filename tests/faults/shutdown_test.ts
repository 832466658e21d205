/** Fault: SIGTERM to a `sluice worker` with jobs running. */
import { equal, ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { Ledger } from "./_ledger.ts";
import {
  LEASE_MS,
  REAPER_MS,
  type SluiceProcess,
  spawnSluice,
  started,
  stopAll,
  tempExecFile,
} from "./_procs.ts";

Deno.test("SIGTERM with running jobs: no new leases, finish within grace, release the rest, exit 0", async () => {
  await withTestDatabase(async (db) => {
    const execFile = await tempExecFile();
    const ledger = new Ledger(db.sql, { execFile });
    const procs: SluiceProcess[] = [];
    try {
      await createQueue(db.sql, "term", {
        delivery: { mode: "exec", command: ledger.execCommand() },
      });
      const w = spawnSluice("terminated", "worker", db.url, {
        SLUICE_QUEUES: "term",
        SLUICE_SHUTDOWN_GRACE: "2s",
      }, ["--concurrency", "4"]);
      procs.push(w);
      await started(w);
      ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
      const quick = (await enqueueJobs(
        db.sql,
        Array.from({ length: 2 }, () => ({ queue: "term", kind: "sleep:0.5" })),
      )).map((r) => r.job.id);
      const slow = (await enqueueJobs(
        db.sql,
        Array.from({ length: 2 }, () => ({ queue: "term", kind: "sleep:30" })),
      )).map((r) => r.job.id);
      ledger.accept([...quick, ...slow]);
      await waitFor(async () => {
        const [r] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM sluice.jobs WHERE state = 'running'`;
        return r!.n === 4;
      }, { what: "all four running" });

      const t0 = Date.now();
      w.signal("SIGTERM");
      await w.waitLog("worker_stopping");
      const late = (await enqueueJobs(
        db.sql,
        Array.from({ length: 3 }, () => ({ queue: "term", kind: "sleep:0" })),
      )).map((r) => r.job.id);
      ledger.accept(late);
      const status = await w.status;
      const tookMs = Date.now() - t0;
      equal(status.code, 0, w.dump());
      assert(tookMs < 2_000 + 8_000, `stopped after ${tookMs} ms with a 2 s grace`);
      for (const id of quick) equal((await getJob(db.sql, id)).state, "succeeded");
      for (const id of slow) {
        const j = await getJob(db.sql, id);
        equal(j.state, "available", "released, not failed");
        equal(j.attempt, 0, "a released attempt is not counted");
        equal(j.errors.length, 0);
      }
      for (const id of late) {
        const j = await getJob(db.sql, id);
        equal(j.attempt, 0, "a stopping worker leased nothing new");
      }
      ledger.released(slow);

      // Drain what was released with a fresh worker (slow jobs made quick so the test ends).
      await db.sql`UPDATE sluice.jobs SET kind = 'sleep:0' WHERE id = ANY(${slow}::bigint[])`;
      const next = spawnSluice("successor", "worker", db.url, { SLUICE_QUEUES: "term" });
      procs.push(next);
      await ledger.settle(30_000);
      await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
    } finally {
      ledger.stopWatch();
      await stopAll(procs);
      await Deno.remove(execFile).catch(() => {});
    }
  });
});
