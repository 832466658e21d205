/** A worker asked to quiet down (requestWorkerQuiet) finishes what runs, leases no more, stops. */
import { equal, ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { listWorkers, requestWorkerQuiet } from "../../src/queue/workers.ts";
import { handlerMap } from "../../src/worker/handlers.ts";
import { Worker } from "../../src/worker/worker.ts";
import { createLogger } from "../../src/obs/log.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("requestWorkerQuiet() lets running jobs finish and leases nothing after", async () => {
  await withTestDatabase(async (db) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const msgs: string[] = [];
    const log = createLogger({ level: "info", write: (l) => msgs.push(JSON.parse(l).msg) });
    const w = new Worker({
      sql: db.sql,
      workerId: "quiet-me",
      queues: null,
      concurrency: 1,
      // A third of the lease is the heartbeat that reads the request.
      leaseMs: 600,
      pollMs: 100,
      shutdownGraceMs: 30_000,
      log,
      handlers: handlerMap({
        "hold": async (_p, ctx) => {
          started.push(ctx.job.id);
          await gate;
        },
      }),
    });
    try {
      const [first, second] = await enqueueJobs(db.sql, [{ kind: "hold" }, { kind: "hold" }]);
      await w.start();
      await waitFor(() => started.length === 1, { what: "the first job to start" });
      const asked = await requestWorkerQuiet(db.sql, "quiet-me");
      assert(asked.quietRequestedAt);
      // Only once the worker has read the request may the running job end: otherwise the worker
      // could lease the second job before its next heartbeat.
      await waitFor(() => msgs.includes("worker_quiet_requested"), {
        what: "the worker to read the request on a heartbeat",
      });
      release();
      await w.done();
      equal((await getJob(db.sql, first!.job.id)).state, "succeeded");
      equal((await getJob(db.sql, second!.job.id)).state, "available");
      equal(started.length, 1);
      const [rec] = (await listWorkers(db.sql)).filter((x) => x.id === "quiet-me");
      equal(rec?.state, "stopped");
      let refused = "";
      await requestWorkerQuiet(db.sql, "quiet-me").catch((e) => (refused = e.code));
      equal(refused, "CONFLICT");
    } finally {
      release();
      await w.stop();
    }
  });
});
