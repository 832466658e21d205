/** POST /v1/jobs/bulk: cancel, retry and discard on a filter or ids, exact counts. */
import { deepEqual, equal } from "node:assert/strict";
import { createTestApi } from "./_app.ts";

Deno.test("POST /v1/jobs/bulk acts on every match of the filter, exactly", async (t) => {
  const api = await createTestApi();
  const { sql } = api.db;
  try {
    equal((await api.call("POST", "/v1/queues", { body: { name: "bulk" } })).status, 201);
    // 120 waiting jobs: more than a page of the list, so the action cannot be page-bound.
    const r = await api.call("POST", "/v1/jobs/batch", {
      body: {
        jobs: Array.from({ length: 120 }, (_, i) => ({
          queue: "bulk",
          kind: i % 2 ? "mail.send" : "report.render",
          payload: { n: i },
        })),
      },
    });
    equal(r.status, 201);
    const count = async (q: string) => (await api.call("GET", `/v1/jobs/count?${q}`)).body;

    await t.step("cancel by filter leaves newer jobs than the count's upTo alone", async () => {
      const c = await count("queue=bulk&kindPrefix=report.");
      equal(c.count, 60);
      const late = await api.call("POST", "/v1/jobs", {
        body: { queue: "bulk", kind: "report.late" },
      });
      const res = await api.call("POST", "/v1/jobs/bulk", {
        body: { action: "cancel", filter: { queue: "bulk", kindPrefix: "report.", upTo: c.upTo } },
      });
      equal(res.status, 200, JSON.stringify(res.body));
      equal(res.body.count, 60);
      equal(res.body.jobIds.length, 60);
      equal((await count("queue=bulk&state=cancelled")).count, 60);
      equal((await api.call("GET", `/v1/jobs/${late.body.job.id}`)).body.job.state, "available");
    });

    await t.step("retry by filter makes one linked job per cancelled job", async () => {
      const res = await api.call("POST", "/v1/jobs/bulk", {
        body: { action: "retry", filter: { queue: "bulk", state: "cancelled" } },
      });
      equal(res.status, 200);
      equal(res.body.count, 60);
      equal(res.body.retried.length, 60);
      const first = res.body.retried[0];
      const child = await api.call("GET", `/v1/jobs/${first.newJobId}`);
      equal(child.body.job.retryOf, first.jobId);
      equal(child.body.job.state, "available");
    });

    await t.step("discard deletes dead jobs only, by ids", async () => {
      const ids = (await sql<{ id: string }[]>`
        UPDATE sluice.jobs SET state = 'dead', finished_at = now(), dead_reason = 'DEAD_FAILED'
        WHERE id IN (SELECT id FROM sluice.jobs WHERE queue = 'bulk' AND kind = 'mail.send'
                     ORDER BY id LIMIT 3)
        RETURNING id`).map((x) => String(x.id));
      const alive = (await api.call("GET", "/v1/jobs?queue=bulk&state=available&limit=1"))
        .body.jobs[0].id;
      const res = await api.call("POST", "/v1/jobs/bulk", {
        body: { action: "discard", ids: [...ids, alive] },
      });
      equal(res.status, 200);
      deepEqual(res.body.jobIds.sort(), [...ids].sort());
      for (const id of ids) equal((await api.call("GET", `/v1/jobs/${id}`)).status, 404);
      equal((await api.call("GET", `/v1/jobs/${alive}`)).status, 200);
    });

    await t.step("refusals: an unknown queue, no selection, a non-admin token", async () => {
      const unknown = await api.call("POST", "/v1/jobs/bulk", {
        body: { action: "cancel", filter: { queue: "nope" } },
      });
      equal(unknown.status, 404);
      equal(unknown.body.error.code, "QUEUE_NOT_FOUND");
      const none = await api.call("POST", "/v1/jobs/bulk", { body: { action: "cancel" } });
      equal(none.status, 400);
      const producer = await api.call("POST", "/v1/jobs/bulk", {
        as: "producer",
        body: { action: "cancel", filter: { queue: "bulk" } },
      });
      equal(producer.status, 403);
    });
  } finally {
    await api.close();
  }
});

Deno.test("run now: a scheduled job becomes available, a schedule fires once", async () => {
  const api = await createTestApi();
  try {
    const later = await api.call("POST", "/v1/jobs", { body: { kind: "k", delay: "1h" } });
    equal(later.body.job.state, "scheduled");
    const id = later.body.job.id;
    const r = await api.call("POST", `/v1/jobs/${id}/run-now`, { as: "producer2" });
    equal(r.status, 404, "another producer's job is not visible");
    const ok = await api.call("POST", `/v1/jobs/${id}/run-now`);
    equal(ok.status, 200);
    equal(ok.body.job.state, "available");
    const again = await api.call("POST", `/v1/jobs/${id}/run-now`);
    equal(again.status, 409);
    const s = await api.call("POST", "/v1/schedules", {
      body: { name: "nightly", cron: "0 3 * * *", kind: "report.render" },
    });
    equal(s.status, 201);
    const run = await api.call("POST", "/v1/schedules/nightly/run");
    equal(run.status, 201, JSON.stringify(run.body));
    equal(run.body.schedule.nextSlot, s.body.schedule.nextSlot);
    const job = (await api.call("GET", `/v1/jobs/${run.body.jobId}`)).body.job;
    equal(job.kind, "report.render");
    equal(job.state, "available");
    equal((await api.call("POST", "/v1/schedules/nope/run")).status, 404);
  } finally {
    await api.close();
  }
});
