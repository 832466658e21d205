/**
 * Flow control over the API: keyConcurrency and concurrencyKey, throttle and debounce answers,
 * their decisions, topics (who may subscribe, all-or-nothing publish) and the OpenAPI schema.
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { createTestApi } from "../api/_app.ts";

Deno.test("keyConcurrency, concurrencyKey, throttle and debounce over HTTP", async () => {
  const api = await createTestApi();
  try {
    const q = await api.call("POST", "/v1/queues", {
      body: { name: "tenants", keyConcurrency: 2 },
    });
    equal(q.status, 201);
    equal(q.body.queue.keyConcurrency, 2);
    const keyed = await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { queue: "tenants", kind: "k", concurrencyKey: "tenant:7" },
    });
    equal(keyed.status, 201);
    equal(keyed.body.job.concurrencyKey, "tenant:7");

    const throttled = { kind: "k", throttle: { key: "user:9", per: "1m" } };
    const a = await api.call("POST", "/v1/jobs", { as: "producer", body: throttled });
    const b = await api.call("POST", "/v1/jobs", { as: "producer", body: throttled });
    const other = await api.call("POST", "/v1/jobs", { as: "producer2", body: throttled });
    deepStrictEqual([a.status, b.status, other.status], [201, 200, 201]);
    deepStrictEqual([b.body.duplicate, b.body.job.id], [true, a.body.job.id]);
    assert(other.body.job.id !== a.body.job.id, "another producer's key space is its own");

    const debounced = (n: number) => ({
      kind: "k",
      payload: { n },
      debounce: { key: "doc:3", delay: "30s" },
    });
    const d1 = await api.call("POST", "/v1/jobs", { as: "producer", body: debounced(1) });
    const d2 = await api.call("POST", "/v1/jobs", { as: "producer", body: debounced(2) });
    deepStrictEqual([d1.status, d2.status], [201, 200]);
    deepStrictEqual([d2.body.job.id, d2.body.job.payload, d2.body.job.state], [
      d1.body.job.id,
      { n: 2 },
      "scheduled",
    ]);

    const bad = await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { kind: "k", throttle: { key: "x", per: "soon" } },
    });
    equal(bad.status, 400);

    const log = await api.call("GET", "/v1/ingest/decisions", { as: "read" });
    const codes = log.body.decisions.map((d: { code: string }) => d.code);
    assert(codes.includes("THROTTLED") && codes.includes("DEBOUNCED"), codes.join(","));
  } finally {
    await api.close();
  }
});

Deno.test("topics: admin subscribes, a producer publishes one job per queue, all or nothing", async () => {
  const api = await createTestApi();
  try {
    for (const name of ["emails", "audit"]) {
      equal((await api.call("POST", "/v1/queues", { body: { name } })).status, 201);
    }
    // A producer may not route a topic into a queue (it could drain others' messages).
    const denied = await api.call("POST", "/v1/topics/orders/subscriptions", {
      as: "producer",
      body: { queue: "emails" },
    });
    equal(denied.status, 403);
    for (const queue of ["emails", "audit"]) {
      const s = await api.call("POST", "/v1/topics/orders/subscriptions", { body: { queue } });
      equal(s.status, 201);
    }
    const again = await api.call("POST", "/v1/topics/orders/subscriptions", {
      body: { queue: "emails" },
    });
    equal(again.status, 200);
    const missing = await api.call("POST", "/v1/topics/orders/subscriptions", {
      body: { queue: "nope" },
    });
    equal(missing.status, 404);

    const listed = await api.call("GET", "/v1/topics", { as: "read" });
    deepStrictEqual(listed.body.topics, [{ name: "orders", queues: ["audit", "emails"] }]);

    const pub = await api.call("POST", "/v1/topics/orders/publish", {
      as: "producer",
      body: { kind: "order.created", payload: { order: 42 } },
    });
    equal(pub.status, 201);
    deepStrictEqual(pub.body.results.map((r: { job: { queue: string } }) => r.job.queue), [
      "audit",
      "emails",
    ]);
    const id = pub.body.results[0].job.id;
    equal((await api.call("GET", `/v1/jobs/${id}`, { as: "producer" })).status, 200);
    equal((await api.call("GET", `/v1/jobs/${id}`, { as: "producer2" })).status, 404);

    // One full target refuses the whole publish: no job lands in the other queue either.
    await api.call("PATCH", "/v1/queues/audit", { body: { maxQueueSize: 1 } });
    const before = await api.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    const refused = await api.call("POST", "/v1/topics/orders/publish", {
      as: "producer",
      body: { kind: "order.created", payload: { order: 43 } },
    });
    equal(refused.status, 429);
    equal(refused.body.error.code, "QUEUE_FULL");
    const after = await api.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    equal(after[0]!.n, before[0]!.n);
    const log = await api.call("GET", "/v1/ingest/decisions?code=QUEUE_FULL", { as: "read" });
    equal(log.body.decisions[0].queue, "audit");

    const none = await api.call("POST", "/v1/topics/nobody/publish", {
      as: "producer",
      body: { kind: "k" },
    });
    deepStrictEqual([none.status, none.body.results], [201, []]);

    equal((await api.call("DELETE", "/v1/topics/orders/subscriptions/audit")).status, 200);
    const gone = await api.call("DELETE", "/v1/topics/orders/subscriptions/audit");
    deepStrictEqual([gone.status, gone.body.error.code], [404, "SUBSCRIPTION_NOT_FOUND"]);
    equal(
      (await api.call("DELETE", "/v1/topics/orders/subscriptions/emails", { as: "producer" }))
        .status,
      403,
    );
  } finally {
    await api.close();
  }
});

Deno.test("the OpenAPI schema describes the flow-control fields and the topic routes", async () => {
  const api = await createTestApi();
  try {
    const doc = (await api.call("GET", "/v1/openapi.json", { as: null })).body;
    for (
      const path of ["/v1/topics", "/v1/topics/{name}/publish", "/v1/topics/{name}/subscriptions"]
    ) {
      assert(path in doc.paths, path);
    }
    const enqueue = doc.components.schemas.EnqueueRequest.properties;
    for (const f of ["concurrencyKey", "throttle", "debounce"]) assert(f in enqueue, f);
    assert("keyConcurrency" in doc.components.schemas.QueueCreateRequest.properties);
    assert("concurrencyKey" in doc.components.schemas.Job.properties);
  } finally {
    await api.close();
  }
});
