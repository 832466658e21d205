import { deepStrictEqual, equal, notEqual, ok as assert } from "node:assert/strict";
import { withTestApi } from "./_app.ts";

/** Issue #14.1: an idempotency key is its owner's, never shared between producers. */
Deno.test("idempotency keys are scoped to the producer that owns them", async (t) => {
  await withTestApi(async (api) => {
    const enqueue = (as: "producer" | "producer2" | "admin", body: Record<string, unknown>) =>
      api.call("POST", "/v1/jobs", { as, body: { kind: "order.ship", ...body } });
    await t.step("B's enqueue with A's key creates B's own job, revealing nothing", async () => {
      const a = await enqueue("producer", { idempotencyKey: "order-42", payload: { card: "A" } });
      equal(a.status, 201);
      const b = await enqueue("producer2", { idempotencyKey: "order-42", payload: { x: 1 } });
      equal(b.status, 201, JSON.stringify(b.body));
      assert(!b.body.duplicate);
      notEqual(b.body.job.id, a.body.job.id);
      equal(b.body.job.createdBy, "t-producer2");
      deepStrictEqual(b.body.job.payload, { x: 1 });
      // Each owner's repeat is its own duplicate.
      const a2 = await enqueue("producer", { idempotencyKey: "order-42" });
      equal(a2.status, 200);
      equal(a2.body.job.id, a.body.job.id);
      const b2 = await enqueue("producer2", { idempotencyKey: "order-42" });
      equal(b2.status, 200);
      equal(b2.body.job.id, b.body.job.id);
      equal(b2.body.job.createdBy, "t-producer2");
    });

    await t.step("a key pre-claimed by B does not swallow A's enqueue", async () => {
      const b = await enqueue("producer2", { idempotencyKey: "order-77" });
      equal(b.status, 201);
      const a = await enqueue("producer", { idempotencyKey: "order-77", payload: { mine: true } });
      equal(a.status, 201, "A's job is created, not answered with B's");
      equal(a.body.job.createdBy, "t-producer");
      const [{ n }] = await api.db.sql<[{ n: number }]>`
        SELECT count(*)::int AS n FROM sluice.jobs WHERE idempotency_key = 'order-77'`;
      equal(n, 2);
    });

    await t.step("the same through /v1/jobs/batch", async () => {
      const a = await api.call("POST", "/v1/jobs/batch", {
        as: "producer",
        body: { jobs: [{ kind: "k", idempotencyKey: "batch-1", payload: { secret: "A" } }] },
      });
      equal(a.status, 201);
      const b = await api.call("POST", "/v1/jobs/batch", {
        as: "producer2",
        body: {
          jobs: [
            { kind: "k", idempotencyKey: "batch-1" },
            { kind: "k", idempotencyKey: "order-42" },
            { kind: "k", idempotencyKey: "batch-1" },
          ],
        },
      });
      equal(b.status, 201);
      const [fresh, own, repeat] = b.body.results;
      equal(fresh.duplicate, false);
      equal(own.duplicate, true, "B's own earlier order-42");
      equal(repeat.duplicate, true);
      equal(repeat.job.id, fresh.job.id);
      for (const r of b.body.results) {
        equal(r.job.createdBy, "t-producer2", "a duplicate answer is never another owner's job");
        notEqual(r.job.id, a.body.results[0].job.id);
      }
    });

    await t.step("admin tokens share one unowned scope, apart from producers", async () => {
      const x = await enqueue("admin", { idempotencyKey: "order-42" });
      equal(x.status, 201, "not a producer's job");
      equal(x.body.job.createdBy, "t-admin");
      const y = await enqueue("admin", { idempotencyKey: "order-42" });
      equal(y.status, 200);
      equal(y.body.job.id, x.body.job.id);
    });
  });
});
