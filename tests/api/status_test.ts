import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { withTestApi } from "./_app.ts";

Deno.test("/health and /v1/ops/queues answer the same status, with the same reasons", async (t) => {
  await withTestApi(async (api) => {
    const both = async () => {
      const health = await api.call("GET", "/health", { as: "read" });
      const ops = await api.call("GET", "/v1/ops/queues", { as: "read" });
      equal(health.status, 200);
      equal(ops.status, 200);
      deepStrictEqual([health.body.status, health.body.reasons], [
        ops.body.status,
        ops.body.reasons,
      ]);
      const anonymous = await api.call("GET", "/health", { as: null });
      deepStrictEqual(anonymous.body, { status: ops.body.status });
      return { status: ops.body.status as string, reasons: ops.body.reasons as string[] };
    };

    await t.step("a live worker and a live maintenance leader: online", async () => {
      await api.db.sql`
        INSERT INTO sluice.workers (id, host, pid, queues, concurrency, version)
        VALUES ('w1', 'h', 1, '{*}', 1, 'test')`;
      await api.db.sql`
        INSERT INTO sluice.maintenance_leader (id, holder, term, acquired_at, expires_at)
        VALUES (1, 'm1', 1, now(), now() + interval '1 hour')`;
      deepStrictEqual(await both(), { status: "online", reasons: [] });
    });

    await t.step("a paused queue with jobs waiting: degraded", async () => {
      equal((await api.call("POST", "/v1/queues", { body: { name: "held" } })).status, 201);
      equal((await api.call("POST", "/v1/queues/held/pause")).status, 200);
      equal(
        (await api.call("POST", "/v1/jobs", { body: { queue: "held", kind: "k" } })).status,
        201,
      );
      deepStrictEqual(await both(), {
        status: "degraded",
        reasons: ["queue 'held' paused with 1 waiting"],
      });
      const h = await api.call("GET", "/health", { as: "admin" });
      deepStrictEqual(h.body.degradedQueues, [{ name: "held", reason: "paused with 1 waiting" }]);
    });

    await t.step("an open circuit, a firing alert, no live leader: degraded for each", async () => {
      await api.db.sql`DELETE FROM sluice.jobs WHERE queue = 'held'`;
      equal(
        (await api.call("POST", "/v1/queues", {
          body: { name: "hooks", delivery: { mode: "http", url: "http://203.0.113.9:9/" } },
        })).status,
        201,
      );
      await api.db.sql`
        INSERT INTO sluice.circuits (origin, state, consecutive_failures, opened_at, open_until)
        VALUES ('http://203.0.113.9:9', 'open', 5, now(), now() + interval '30 seconds')`;
      await api.db.sql`
        INSERT INTO sluice.alerts (name, subject, state, value, threshold, fired_at, evaluated_at)
        VALUES ('dlq_growth', 'default', 'firing', 3, 1, now(), now())`;
      await api.db.sql`UPDATE sluice.maintenance_leader SET expires_at = now() - interval '1 s'`;
      const { status, reasons } = await both();
      equal(status, "degraded");
      for (
        const expected of [
          /^no live maintenance leader/,
          /^alert 'dlq_growth' is firing$/,
          /^queue 'hooks' circuit open for 'http:\/\/203\.0\.113\.9:9' until /,
        ]
      ) {
        assert(reasons.some((r) => expected.test(r)), `${expected} in ${reasons.join("; ")}`);
      }
    });

    await t.step(
      "stalled workers count: a full buffer not started, more than concurrency",
      async () => {
        await api.db.sql`
        INSERT INTO sluice.workers (id, host, pid, queues, concurrency, version)
        VALUES ('w2', 'h', 2, '{*}', 1, 'test'), ('w3', 'h', 3, '{*}', 1, 'test')`;
        // w2: three jobs leased for prefetch 10 s ago (the 4.5 s mark of held), never started.
        // w3: two started jobs (renewed past the mark) on a worker with concurrency 1.
        await api.db.sql`
        INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, attempt, worker_id,
                                 leased_at, lease_expires_at, lease_token)
        SELECT 'default', 'k', '{}', 'running', 1, 1, w, now() - interval '10 s',
               now() - interval '10 s' + CASE WHEN w = 'w2' THEN interval '4.5 s'
                                              ELSE interval '40 s' END, i
        FROM (VALUES ('w2', 1), ('w2', 2), ('w2', 3), ('w3', 4), ('w3', 5)) AS v(w, i)`;
        const { status, reasons } = await both();
        equal(status, "degraded");
        assert(
          reasons.includes(
            "worker w2 holds 3 jobs it has not started (3 for over 2 s) while it runs 0",
          ),
          reasons.join("; "),
        );
        assert(reasons.includes("worker w3 runs 2 jobs with concurrency 1"), reasons.join("; "));
        const { workers } = (await api.call("GET", "/v1/workers")).body;
        equal(workers.find((w: { id: string }) => w.id === "w1").stalled, null);
        await api.db.sql`DELETE FROM sluice.jobs WHERE worker_id IN ('w2', 'w3')`;
      },
    );

    await t.step(
      "the overview's numbers: jobs/min, failure %, p95 wait, per queue and total",
      async () => {
        await api.db.sql`
        INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, run_at, started_at,
                                 finished_at)
        SELECT 'default', 'k', '{}', CASE WHEN i <= 8 THEN 'succeeded' ELSE 'dead' END, 1,
               now() - interval '1 minute', now() - interval '1 minute' + i * interval '1 s', now()
        FROM generate_series(1, 10) AS i`;
        const ops = (await api.call("GET", "/v1/ops/queues")).body;
        const q = ops.queues.find((x: { name: string }) => x.name === "default");
        // 10 finished in the 5-minute window: 2 per minute, 2 of 10 dead, waits 1..10 s.
        deepStrictEqual(q.rates, { jobsPerMinute: 2, failurePercent: 20, p95WaitMs: 9_550 });
        deepStrictEqual(ops.totals, q.rates);
      },
    );

    await t.step("no worker online: offline", async () => {
      await api.db.sql`UPDATE sluice.workers SET stopped_at = now()`;
      const { status, reasons } = await both();
      equal(status, "offline");
      equal(reasons[0], "no worker is online");
    });
  });
});
