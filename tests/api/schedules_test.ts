import { equal, ok as assert } from "node:assert/strict";
import { withTestApi } from "./_app.ts";

/** `{"v":{"v":…}}` nested `depth` levels, as JSON text (built as text: no recursion anywhere). */
const nestedText = (depth: number) => '{"v":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);

Deno.test("/v1/schedules validates payloads like jobs (issue #14.5)", async (t) => {
  await withTestApi(async (api) => {
    const create = (name: string, payload: string, queue = "default") =>
      api.call("POST", "/v1/schedules", {
        body: `{"name":"${name}","cron":"* * * * *","kind":"tick","queue":"${queue}",` +
          `"payload":${payload}}`,
      });
    await t.step("a payload deeper than 100 levels: 400 VALIDATION_FAILED", async () => {
      // 105: within the body's own depth limit, so the payload check answers.
      const r = await create("deep", nestedText(105));
      equal(r.status, 400, JSON.stringify(r.body));
      equal(r.body.error.code, "VALIDATION_FAILED");
      assert(r.body.error.message.includes("nested deeper than 100"), r.body.error.message);
      const deeper = await create("deeper", nestedText(150));
      equal(deeper.status, 400);
      equal(deeper.body.error.code, "VALIDATION_FAILED");
    });

    await t.step("a payload over the queue's maxPayloadBytes: 413", async () => {
      equal(
        (await api.call("POST", "/v1/queues", { body: { name: "tiny", maxPayloadBytes: 20 } }))
          .status,
        201,
      );
      const r = await create("big", JSON.stringify({ text: "x".repeat(50) }), "tiny");
      equal(r.status, 413, JSON.stringify(r.body));
      equal(r.body.error.code, "PAYLOAD_TOO_LARGE");
    });

    await t.step("the schedule resource says whether it is failing", async () => {
      equal((await create("fine", nestedText(100))).status, 201);
      const r = await api.call("GET", "/v1/schedules/fine");
      equal(r.body.schedule.lastError, null);
      equal(r.body.schedule.failingSince, null);
    });
  });
});

Deno.test("a 200,000-deep JSON body answers 400 anywhere in the API, never 500", async () => {
  await withTestApi(
    async (api) => {
      const deep = nestedText(200_000);
      const bodies: [string, string, string][] = [
        ["POST", "/v1/schedules", `{"name":"x","cron":"* * * * *","kind":"k","payload":${deep}}`],
        ["POST", "/v1/jobs", `{"kind":"k","payload":${deep}}`],
        ["POST", "/v1/jobs/batch", `{"jobs":[{"kind":"k","payload":${deep}}]}`],
        ["PATCH", "/v1/queues/default", `{"delivery":${deep}}`],
        ["POST", "/v1/queues", deep],
      ];
      for (const [method, path, body] of bodies) {
        const r = await api.call(method, path, { body });
        equal(
          r.status,
          400,
          `${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`,
        );
        equal(r.body.error.code, "VALIDATION_FAILED");
      }
      const [{ n }] = await api.db.sql<[{ n: number }]>`
      SELECT count(*)::int AS n FROM sluice.schedules`;
      equal(n, 0);
    },
    {},
    { maxBodyBytes: 4_000_000 },
  );
});
