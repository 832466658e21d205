import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { alertThresholds, evaluateAlerts } from "../../src/maintenance/alerts.ts";
import { registerWorker } from "../../src/queue/workers.ts";
import { withTestApi } from "./_app.ts";

Deno.test("pull workers are workers: listed, counted per delivery mode, not stale while leased", async (t) => {
  await withTestApi(async (api) => {
    const { sql } = api.db;
    const staleAlert = async () => {
      await evaluateAlerts(sql, alertThresholds(api.ctx.config));
      const [a] = await sql<{ state: string; details: { stale: number; running: number } }[]>`
        SELECT state, details FROM sluice.alerts WHERE name = 'stale_heartbeat_ratio'`;
      return a!;
    };
    await registerWorker(sql, {
      id: "proc-1",
      host: "h",
      pid: 1,
      queues: ["*"],
      concurrency: 4,
      version: "t",
      metricsAddr: null,
    });
    equal(
      (await api.call("POST", "/v1/queues", { body: { name: "ext", delivery: { mode: "pull" } } }))
        .status,
      201,
    );
    for (const queue of ["ext", "ext", "default"]) {
      equal((await api.call("POST", "/v1/jobs", { body: { queue, kind: "k" } })).status, 201);
    }
    const leased = await api.call("POST", "/v1/queues/ext/lease", {
      as: "worker",
      body: { max: 1, workerId: "puller-1" },
      headers: { "user-agent": "puller/1.0" },
    });
    const job = leased.body.jobs[0];

    await t.step("GET /v1/workers lists the pull worker with its kind and queues", async () => {
      const r = await api.call("GET", "/v1/workers", { as: "read" });
      equal(r.status, 200);
      const p = r.body.workers.find((w: { id: string }) => w.id === "puller-1");
      assert(p, JSON.stringify(r.body.workers));
      equal(p.kind, "pull");
      equal(p.state, "online");
      deepStrictEqual(p.queues, ["ext"]);
      deepStrictEqual(p.runningJobIds, [job.id]);
      equal(p.host, "192.0.2.1");
      equal(p.version, "puller/1.0");
      equal(r.body.workers.find((w: { id: string }) => w.id === "proc-1").kind, "process");
    });

    await t.step(
      "GET /v1/ops/queues counts only workers of the queue's delivery mode",
      async () => {
        const r = await api.call("GET", "/v1/ops/queues", { as: "read" });
        const q = (name: string) => r.body.queues.find((x: { name: string }) => x.name === name);
        equal(q("ext").workers, 1, "the pull worker, not the inline worker serving '*'");
        equal(q("default").workers, 1, "the inline worker, not the pull worker");
        equal(r.body.workers.find((w: { id: string }) => w.id === "puller-1").kind, "pull");
      },
    );

    await t.step("stale_heartbeat_ratio does not count a healthy pull worker's job", async () => {
      const a = await staleAlert();
      deepStrictEqual([a.state, a.details.running, a.details.stale], ["ok", 1, 0]);
    });

    await t.step("a heartbeat records the pull worker as seen", async () => {
      await sql`UPDATE sluice.workers SET last_seen_at = now() - interval '10 minutes'
        WHERE id = 'puller-1'`;
      const hb = await api.call("POST", `/v1/jobs/${job.id}/heartbeat`, {
        as: "worker",
        body: { attempt: job.attempt, leaseToken: job.leaseToken },
      });
      equal(hb.status, 200, JSON.stringify(hb.body));
      const [w] = await sql<{ age: number }[]>`
        SELECT extract(epoch FROM now() - last_seen_at)::float8 AS age FROM sluice.workers
        WHERE id = 'puller-1'`;
      assert(w!.age < 60, `last seen ${w!.age} s ago`);
      // Both listings show that heartbeat as the pull worker's last sign of life.
      const listed = async (path: string) => {
        const r = await api.call("GET", path, { as: "read" });
        const p = r.body.workers.find((x: { id: string }) => x.id === "puller-1");
        assert(p, `${path}: ${JSON.stringify(r.body.workers)}`);
        return p as { lastSeenAt: string; state: string };
      };
      for (const path of ["/v1/workers", "/v1/ops/queues"]) {
        const p = await listed(path);
        const age = Date.now() - Date.parse(p.lastSeenAt);
        assert(age >= -5_000 && age < 60_000, `${path}: lastSeenAt ${p.lastSeenAt}`);
        equal(p.state, "online", path);
      }
    });

    await t.step(
      "a pull worker that lost its lease is stale; gone idle, it is stopped",
      async () => {
        await sql`UPDATE sluice.jobs SET lease_expires_at = now() - interval '1 minute'
        WHERE id = ${job.id}`;
        equal((await staleAlert()).details.stale, 1);
        await sql`UPDATE sluice.workers SET last_seen_at = now() - interval '5 minutes'
        WHERE id = 'puller-1'`;
        const state = async () =>
          (await api.call("GET", "/v1/workers", { as: "read" })).body.workers
            .find((w: { id: string }) => w.id === "puller-1").state;
        equal(await state(), "stale", "it still holds a running job");
        await sql`UPDATE sluice.jobs SET state = 'available', lease_expires_at = NULL
        WHERE id = ${job.id}`;
        equal(await state(), "stopped", "nothing running: it simply went away");
      },
    );
  });
});
