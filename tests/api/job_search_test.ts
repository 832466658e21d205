/** GET /v1/jobs search filters and GET /v1/jobs/count, against a real database. */
import { deepEqual, equal } from "node:assert/strict";
import { createTestApi } from "./_app.ts";

Deno.test("GET /v1/jobs finds jobs by payload, kind prefix, tag, queue and time", async (t) => {
  const api = await createTestApi();
  try {
    equal((await api.call("POST", "/v1/queues", { body: { name: "search" } })).status, 201);
    const ids: Record<string, string> = {};
    const add = async (name: string, body: Record<string, unknown>) => {
      const r = await api.call("POST", "/v1/jobs", { body: { queue: "search", ...body } });
      equal(r.status, 201, JSON.stringify(r.body));
      ids[name] = r.body.job.id;
    };
    await add("n42", { kind: "report.render", payload: { customer: { id: 42 }, lines: [1, 2] } });
    await add("s42", { kind: "report.mail", payload: { customer: { id: "42" } }, tags: ["vip"] });
    await add("n7", { kind: "invoice.send", payload: { customer: { id: 7, name: "Ada" } } });
    const found = async (query: string) => {
      const r = await api.call("GET", `/v1/jobs?queue=search&${query}`);
      equal(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
      return r.body.jobs.map((j: { id: string }) => j.id).sort();
    };
    const of = (...names: string[]) => names.map((n) => ids[n]!).sort();

    await t.step("JSON containment", async () => {
      deepEqual(await found(`payload=${encodeURIComponent('{"customer":{"id":42}}')}`), of("n42"));
      deepEqual(await found(`payload=${encodeURIComponent('{"lines":[2]}')}`), of("n42"));
      deepEqual(
        await found(`payload=${encodeURIComponent('{"customer":{}}')}`),
        of("n7", "n42", "s42"),
      );
    });

    await t.step("path = value matches the number and its text", async () => {
      deepEqual(await found(`payload=${encodeURIComponent("customer.id=42")}`), of("n42", "s42"));
      deepEqual(await found(`payload=${encodeURIComponent('customer.id="42"')}`), of("s42"));
      deepEqual(await found(`payload=${encodeURIComponent("customer.name=Ada")}`), of("n7"));
      deepEqual(await found(`payload=${encodeURIComponent("customer.id=99")}`), []);
    });

    await t.step("kind prefix, exact kind and tag", async () => {
      deepEqual(await found("kindPrefix=report."), of("n42", "s42"));
      deepEqual(await found("kind=report"), []);
      deepEqual(await found("tag=vip&kindPrefix=report"), of("s42"));
    });

    await t.step("time range", async () => {
      const now = Date.now();
      const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
      deepEqual(await found(`createdAfter=${iso(now - 60_000)}`), of("n7", "n42", "s42"));
      deepEqual(await found(`createdBefore=${iso(now - 60_000)}`), []);
      deepEqual(await found(`createdAfter=${iso(now + 60_000)}`), []);
    });

    await t.step("an unknown queue is 404 QUEUE_NOT_FOUND, not an empty list", async () => {
      for (const path of ["/v1/jobs?queue=serach", "/v1/jobs/count?queue=serach"]) {
        const r = await api.call("GET", path);
        equal(r.status, 404);
        equal(r.body.error.code, "QUEUE_NOT_FOUND");
      }
    });

    await t.step("a malformed payload query is a 400 naming the field", async () => {
      for (const q of ["{nope", "no-equals-sign", ".id=1"]) {
        const r = await api.call("GET", `/v1/jobs?payload=${encodeURIComponent(q)}`);
        equal(r.status, 400, q);
        equal(r.body.error.code, "VALIDATION_FAILED");
        equal(r.body.error.details.issues[0].path, "payload");
      }
    });

    await t.step("the count is exact and names the newest match", async () => {
      const r = await api.call("GET", "/v1/jobs/count?queue=search&kindPrefix=report.");
      equal(r.status, 200);
      deepEqual(r.body, { count: 2, upTo: ids.s42, capped: false });
      const none = await api.call("GET", "/v1/jobs/count?queue=search&kind=nothing");
      deepEqual(none.body, { count: 0, upTo: null, capped: false });
    });

    await t.step("past what one bulk action may act on, the count says 'more than'", async () => {
      await api.db.sql`
        INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts)
        SELECT 'search', 'bulk.many', '{}', 'available', 1 FROM generate_series(1, 10001)`;
      const r = await api.call("GET", "/v1/jobs/count?queue=search&kind=bulk.many");
      deepEqual(r.body, { count: 10_000, upTo: null, capped: true });
    });

    await t.step("the payload index answers a containment search", async () => {
      // One transaction, so the setting and the EXPLAIN share a connection of the pool.
      const plan = await api.db.sql.begin(async (tx) => {
        await tx`SET LOCAL enable_seqscan = off`;
        return await tx.unsafe(
          `EXPLAIN SELECT id FROM sluice.jobs WHERE payload @> '{"customer":{"id":42}}'`,
        );
      });
      const text = plan.map((r) => Object.values(r)[0]).join("\n");
      equal(text.includes("jobs_payload_idx"), true, text);
    });
  } finally {
    await api.close();
  }
});
