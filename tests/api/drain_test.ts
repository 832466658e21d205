import { equal, ok as assert, rejects } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJob } from "../../src/queue/outcome.ts";
import { withTestApi } from "./_app.ts";

Deno.test("drain ?refuseNew=true refuses enqueues while the queue processes to zero", async (t) => {
  await withTestApi(async (api) => {
    const sql = api.db.sql;
    equal((await api.call("POST", "/v1/queues", { body: { name: "retiring" } })).status, 201);
    // Through the library, so the api's own queue cache has not seen the queue yet.
    await enqueueJobs(sql, [{ queue: "retiring", kind: "k" }, { queue: "retiring", kind: "k" }]);

    await t.step("drain answers the work left, the queue is not paused", async () => {
      const r = await api.call("POST", "/v1/queues/retiring/drain?refuseNew=true");
      equal(r.status, 200, JSON.stringify(r.body));
      equal(r.body.drained, false);
      equal(r.body.counts.available, 2);
      equal(r.body.queue.refusingNew, true);
      equal(r.body.queue.paused, false);
    });

    await t.step("enqueues answer 409 QUEUE_DRAINING and are recorded", async () => {
      const r = await api.call("POST", "/v1/jobs", {
        as: "producer",
        body: { queue: "retiring", kind: "k" },
      });
      equal(r.status, 409, JSON.stringify(r.body));
      equal(r.body.error.code, "QUEUE_DRAINING");
      const d = await api.call("GET", "/v1/ingest/decisions?code=QUEUE_DRAINING");
      equal(d.body.decisions.length, 1);
      equal(d.body.decisions[0].queue, "retiring");
      // The library's cached policy notices the change too.
      await rejects(
        enqueueJob(sql, { queue: "retiring", kind: "k" }),
        (e) => isSluiceError(e, "QUEUE_DRAINING"),
      );
    });

    await t.step("leasing goes on; drained once nothing is unfinished", async () => {
      const jobs = await leaseJobs(sql, {
        queue: "retiring",
        workerId: "w1",
        max: 10,
        leaseMs: 30_000,
      });
      equal(jobs.length, 2);
      for (const j of jobs) await completeJob(sql, j);
      const r = await api.call("POST", "/v1/queues/retiring/drain?refuseNew=true");
      equal(r.body.drained, true);
    });

    await t.step("resume accepts enqueues again", async () => {
      const r = await api.call("POST", "/v1/queues/retiring/resume");
      equal(r.status, 200);
      equal(r.body.queue.refusingNew, false);
      const { job } = await enqueueJob(sql, { queue: "retiring", kind: "k" });
      assert(job.id);
    });
  });
});
