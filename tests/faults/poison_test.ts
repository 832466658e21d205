/** Fault: a poison job whose exec handler kills itself (SIGKILL) on every attempt. */
import { equal, ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";
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

Deno.test("poison job crashing its exec handler every time ends dead; others keep flowing", async () => {
  await withTestDatabase(async (db) => {
    const execFile = await tempExecFile();
    const ledger = new Ledger(db.sql, { execFile });
    const procs: SluiceProcess[] = [];
    try {
      await createQueue(db.sql, "poison", {
        delivery: { mode: "exec", command: ledger.execCommand() },
        // Short backoff so the three attempts fit in a CI-sized run.
        backoff: { baseMs: 50, maxMs: 200 },
      });
      const w = spawnSluice("poisoned", "worker", db.url, { SLUICE_QUEUES: "poison" }, [
        "--concurrency",
        "2",
      ]);
      procs.push(w);
      await started(w);
      ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
      const [poison] = await enqueueJobs(db.sql, [{
        queue: "poison",
        kind: "crash",
        maxAttempts: 3,
      }]);
      const healthy = await enqueueJobs(
        db.sql,
        Array.from({ length: 30 }, () => ({ queue: "poison", kind: "sleep:0" })),
      );
      ledger.accept([poison!.job.id, ...healthy.map((r) => r.job.id)]);
      await ledger.settle(20_000);
      await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
      const j = await getJob(db.sql, poison!.job.id);
      equal(j.state, "dead");
      equal(j.deadReason, "DEAD_MAX_ATTEMPTS");
      equal(j.attempt, 3);
      equal(j.errors.length, 3);
      for (const e of j.errors) equal(e.code, "EXEC_SIGNAL", JSON.stringify(e));
      assert(j.errors[0]!.message.includes("SIGKILL"), j.errors[0]!.message);
      for (const r of healthy) equal((await getJob(db.sql, r.job.id)).state, "succeeded");
      assert(!w.exited, "the worker survived its poison job");
    } finally {
      ledger.stopWatch();
      await stopAll(procs);
      await Deno.remove(execFile).catch(() => {});
    }
  });
});
