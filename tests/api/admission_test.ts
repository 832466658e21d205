import { equal, ok as assert } from "node:assert/strict";
import { waitFor } from "../_helpers/wait.ts";
import { withTestApi } from "./_app.ts";

Deno.test("admission control per queue", async (t) => {
  await withTestApi(async (api) => {
    const count = async (queue: string) =>
      (await api.db.sql<[{ n: number }]>`
        SELECT count(*)::int AS n FROM sluice.jobs WHERE queue = ${queue}`)[0].n;
    await t.step(
      "max enqueues per minute: 429 ENQUEUE_RATE_EXCEEDED with Retry-After",
      async () => {
        // Windows are calendar minutes of the database clock: start well inside one, so the
        // requests below cannot straddle a boundary (waits at most a few seconds).
        await waitFor(async () => {
          const [{ s }] = await api.db.sql<[{ s: number }]>`
            SELECT extract(second FROM now())::float8 AS s`;
          return s < 45;
        }, { timeoutMs: 20_000, intervalMs: 250, what: "an early second of the minute" });
        equal(
          (await api.call("POST", "/v1/queues", { body: { name: "rate", maxEnqueuePerMinute: 3 } }))
            .status,
          201,
        );
        const batch = await api.call("POST", "/v1/jobs/batch", {
          as: "producer",
          body: { jobs: [{ queue: "rate", kind: "k" }, { queue: "rate", kind: "k" }] },
        });
        equal(batch.status, 201);
        equal(
          (await api.call("POST", "/v1/jobs", {
            as: "producer",
            body: { queue: "rate", kind: "k" },
          })).status,
          201,
        );
        const r = await api.call("POST", "/v1/jobs", {
          as: "producer",
          body: { queue: "rate", kind: "k" },
        });
        equal(r.status, 429);
        equal(r.body.error.code, "ENQUEUE_RATE_EXCEEDED");
        const retry = Number(r.headers.get("retry-after"));
        assert(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
        equal(await count("rate"), 3);
      },
    );

    await t.step("a refused request gives its budget back", async () => {
      equal(
        (await api.call("POST", "/v1/queues", { body: { name: "give", maxEnqueuePerMinute: 1 } }))
          .status,
        201,
      );
      const bad = await api.call("POST", "/v1/jobs", {
        body: { queue: "give", kind: "k", payload: 1 },
      });
      equal(bad.status, 400);
      equal(
        (await api.call("POST", "/v1/jobs", { body: { queue: "give", kind: "k" } })).status,
        201,
      );
    });

    await t.step("max queue size: 429 QUEUE_FULL with Retry-After", async () => {
      equal(
        (await api.call("POST", "/v1/queues", { body: { name: "small", maxQueueSize: 2 } })).status,
        201,
      );
      for (let i = 0; i < 2; i++) {
        equal(
          (await api.call("POST", "/v1/jobs", { body: { queue: "small", kind: "k" } })).status,
          201,
        );
      }
      const r = await api.call("POST", "/v1/jobs", { body: { queue: "small", kind: "k" } });
      equal(r.status, 429);
      equal(r.body.error.code, "QUEUE_FULL");
      assert(Number(r.headers.get("retry-after")) >= 1);
      equal(await count("small"), 2);
      const batch = await api.call("POST", "/v1/jobs/batch", {
        body: { jobs: [{ kind: "k" }, { queue: "small", kind: "k" }] },
      });
      equal(batch.status, 429, "a batch touching a full queue is refused whole");
    });

    await t.step("max payload bytes per queue: 413 PAYLOAD_TOO_LARGE", async () => {
      equal(
        (await api.call("POST", "/v1/queues", { body: { name: "tiny", maxPayloadBytes: 20 } }))
          .status,
        201,
      );
      const r = await api.call("POST", "/v1/jobs", {
        body: { queue: "tiny", kind: "k", payload: { text: "x".repeat(50) } },
      });
      equal(r.status, 413);
      equal(r.body.error.code, "PAYLOAD_TOO_LARGE");
      equal(await count("tiny"), 0);
    });

    await t.step("a paused queue still accepts enqueues", async () => {
      equal((await api.call("POST", "/v1/queues/default/pause")).status, 200);
      equal((await api.call("POST", "/v1/jobs", { body: { kind: "k" } })).status, 201);
    });

    await t.step("unless the queue says otherwise: 409 QUEUE_PAUSED, nothing written", async () => {
      const q = await api.call("POST", "/v1/queues", {
        body: { name: "strict", rejectWhenPaused: true },
      });
      equal(q.status, 201);
      equal(q.body.queue.rejectWhenPaused, true);
      equal((await api.call("POST", "/v1/queues/strict/pause")).status, 200);
      const before = await api.db.sql`SELECT count(*)::int AS n FROM sluice.jobs`;
      const r = await api.call("POST", "/v1/jobs", { body: { queue: "strict", kind: "k" } });
      equal(r.status, 409);
      equal(r.body.error.code, "QUEUE_PAUSED");
      const after = await api.db.sql`SELECT count(*)::int AS n FROM sluice.jobs`;
      equal(after[0]!.n, before[0]!.n);
      const d = await api.call("GET", "/v1/ingest/decisions?code=QUEUE_PAUSED");
      equal(d.body.decisions.length, 1);
      equal((await api.call("POST", "/v1/queues/strict/resume")).status, 200);
      equal(
        (await api.call("POST", "/v1/jobs", { body: { queue: "strict", kind: "k" } })).status,
        201,
      );
    });

    await t.step("every denial is one decision row and one policy_denied line", async () => {
      const r = await api.call("GET", "/v1/ingest/decisions?code=ENQUEUE_RATE_EXCEEDED", {
        as: "read",
      });
      equal(r.body.decisions.length, 1);
      equal(r.body.decisions[0].queue, "rate");
      equal(r.body.decisions[0].tokenName, "t-producer");
      const full = await api.call("GET", "/v1/ingest/decisions?queue=small");
      equal(full.body.decisions.length, 2, "the mixed batch is recorded under the full queue");
      const all = await api.call("GET", "/v1/ingest/decisions");
      equal(all.body.decisions.length, 6);
      equal(api.logs.filter((l) => l.msg === "policy_denied").length, 6);
      equal(api.ctx.limiter.events.queue, 3);
      const page = await api.call("GET", "/v1/ingest/decisions?limit=2");
      equal(page.body.decisions.length, 2);
      const next = await api.call(
        "GET",
        `/v1/ingest/decisions?limit=2&before=${page.body.nextCursor}`,
      );
      equal(next.body.decisions.length, 2);
    });
  });
});

Deno.test("admission checks input before queue state (issue #21.10)", async (t) => {
  await withTestApi(async (api) => {
    equal(
      (await api.call("POST", "/v1/queues", {
        body: { name: "fulltiny", maxQueueSize: 1, maxPayloadBytes: 20, maxEnqueuePerMinute: 5 },
      })).status,
      201,
    );
    equal(
      (await api.call("POST", "/v1/jobs", { body: { queue: "fulltiny", kind: "k" } })).status,
      201,
    );
    const budget = async () =>
      (await api.db.sql<{ count: string }[]>`
        SELECT count FROM sluice.enqueue_windows WHERE queue = 'fulltiny'`).map((r) =>
        Number(r.count)
      ).reduce((a, b) => a + b, 0);
    const spent = await budget();

    await t.step("an oversized payload to a full queue: 413, not 429", async () => {
      const r = await api.call("POST", "/v1/jobs", {
        body: { queue: "fulltiny", kind: "k", payload: { text: "x".repeat(50) } },
      });
      equal(r.status, 413, JSON.stringify(r.body));
      equal(r.body.error.code, "PAYLOAD_TOO_LARGE");
    });

    await t.step("invalid input to a full queue: 400, not 429", async () => {
      const r = await api.call("POST", "/v1/jobs/batch", {
        body: { jobs: [{ queue: "fulltiny", kind: "k", priority: 99_999 }] },
      });
      equal(r.status, 400, JSON.stringify(r.body));
      equal(r.body.error.code, "VALIDATION_FAILED");
    });

    await t.step("a valid job to the full queue is still 429 QUEUE_FULL", async () => {
      const r = await api.call("POST", "/v1/jobs", { body: { queue: "fulltiny", kind: "k" } });
      equal(r.status, 429);
      equal(r.body.error.code, "QUEUE_FULL");
    });

    await t.step("refused input spent no rate budget", async () => {
      equal(await budget(), spent);
    });
  });
});
