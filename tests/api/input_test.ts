import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { withTestApi } from "./_app.ts";

Deno.test("bad input answers 4xx with the error shape, records a decision and writes no job", async (t) => {
  await withTestApi(
    async (api) => {
      const jobs = async () =>
        Number((await api.db.sql`SELECT count(*)::int AS n FROM sluice.jobs`)[0]!.n);
      const cases: [
        string,
        { body?: unknown; headers?: Record<string, string> },
        number,
        string,
      ][] = [
        ["malformed JSON", { body: '{"kind": "k",' }, 400, "MALFORMED_JSON"],
        [
          "wrong content type",
          {
            body: "kind=k",
            headers: { "content-type": "application/x-www-form-urlencoded" },
          },
          415,
          "UNSUPPORTED_MEDIA_TYPE",
        ],
        [
          "text/plain",
          { body: '{"kind":"k"}', headers: { "content-type": "text/plain" } },
          415,
          "UNSUPPORTED_MEDIA_TYPE",
        ],
        ["no body", {}, 400, "VALIDATION_FAILED"],
        ["body not an object", { body: [1, 2] }, 400, "VALIDATION_FAILED"],
        ["payload a string", { body: { kind: "k", payload: "x" } }, 400, "VALIDATION_FAILED"],
        ["payload a number", { body: { kind: "k", payload: 5 } }, 400, "VALIDATION_FAILED"],
        ["payload null", { body: { kind: "k", payload: null } }, 400, "VALIDATION_FAILED"],
        [
          "NUL in payload",
          { body: { kind: "k", payload: { s: "a\u0000b" } } },
          400,
          "VALIDATION_FAILED",
        ],
        ["NUL in kind", { body: { kind: "a\u0000b" } }, 400, "INVALID_KIND"],
        ["NUL in tag", { body: { kind: "k", tags: ["a\u0000"] } }, 400, "VALIDATION_FAILED"],
        [
          "NUL in idempotency key",
          { body: { kind: "k", idempotencyKey: "\u0000" } },
          400,
          "VALIDATION_FAILED",
        ],
        [
          "oversize body",
          { body: { kind: "k", payload: { s: "x".repeat(70_000) } } },
          413,
          "PAYLOAD_TOO_LARGE",
        ],
        [
          "invalid queue name",
          { body: { queue: "Bad Queue!", kind: "k" } },
          400,
          "INVALID_QUEUE_NAME",
        ],
        [
          "queue name too long",
          { body: { queue: "a".repeat(65), kind: "k" } },
          400,
          "INVALID_QUEUE_NAME",
        ],
        ["unknown queue", { body: { queue: "nope", kind: "k" } }, 404, "QUEUE_NOT_FOUND"],
        ["empty kind", { body: { kind: "" } }, 400, "INVALID_KIND"],
        ["kind too long", { body: { kind: "k".repeat(129) } }, 400, "INVALID_KIND"],
        ["kind missing", { body: { payload: {} } }, 400, "VALIDATION_FAILED"],
        ["negative delay", { body: { kind: "k", delay: "-5s" } }, 400, "VALIDATION_FAILED"],
        ["absurd delay", { body: { kind: "k", delay: "100000d" } }, 400, "VALIDATION_FAILED"],
        ["delay not a duration", { body: { kind: "k", delay: "soon" } }, 400, "VALIDATION_FAILED"],
        [
          "delay and runAt",
          { body: { kind: "k", delay: "1s", runAt: "2030-01-01T00:00:00Z" } },
          400,
          "VALIDATION_FAILED",
        ],
        [
          "runAt without zone",
          { body: { kind: "k", runAt: "2030-01-01T00:00:00" } },
          400,
          "VALIDATION_FAILED",
        ],
        ["runAt garbage", { body: { kind: "k", runAt: "tomorrow" } }, 400, "VALIDATION_FAILED"],
        ["unknown field", { body: { kind: "k", colour: "red" } }, 400, "VALIDATION_FAILED"],
        [
          "priority not an integer",
          { body: { kind: "k", priority: 1.5 } },
          400,
          "VALIDATION_FAILED",
        ],
        [
          "priority out of range",
          { body: { kind: "k", priority: 99999 } },
          400,
          "VALIDATION_FAILED",
        ],
        ["maxAttempts zero", { body: { kind: "k", maxAttempts: 0 } }, 400, "VALIDATION_FAILED"],
        ["wrong type", { body: { kind: 5 } }, 400, "VALIDATION_FAILED"],
      ];
      for (const [name, req, status, code] of cases) {
        await t.step(name, async () => {
          const r = await api.call("POST", "/v1/jobs", req);
          equal(r.status, status, JSON.stringify(r.body));
          equal(r.body.error.code, code);
          equal(typeof r.body.error.message, "string");
          equal(typeof r.body.error.details, "object");
          assert(!JSON.stringify(r.body).includes("    at "), "no stack trace");
        });
      }

      await t.step("zod issues are listed in details", async () => {
        const r = await api.call("POST", "/v1/jobs", {
          body: { kind: "k", colour: "red", priority: "x" },
        });
        assert(r.body.error.details.issues.length >= 2);
      });

      await t.step("nothing was written and every denial was recorded", async () => {
        equal(await jobs(), 0);
        const decisions = await api.call("GET", "/v1/ingest/decisions?limit=500");
        equal(decisions.body.decisions.length, cases.length + 1);
        const unknown = decisions.body.decisions.find((d: { code: string }) =>
          d.code === "QUEUE_NOT_FOUND"
        );
        equal(unknown.queue, "nope");
        equal(unknown.tokenName, "t-admin");
        equal(api.logs.filter((l) => l.msg === "policy_denied").length, cases.length + 1);
      });

      await t.step("SQL metacharacters are stored literally", async () => {
        const nasty = "x'); DROP TABLE sluice.jobs; -- \\ \" %_";
        const r = await api.call("POST", "/v1/jobs", {
          body: { kind: nasty, payload: { q: nasty }, tags: [nasty], idempotencyKey: nasty },
        });
        equal(r.status, 201);
        const got = await api.call("GET", `/v1/jobs/${r.body.job.id}`);
        equal(got.body.job.kind, nasty);
        deepStrictEqual(got.body.job.payload, { q: nasty });
        deepStrictEqual(got.body.job.tags, [nasty]);
        const filtered = await api.call("GET", `/v1/jobs?kind=${encodeURIComponent(nasty)}`);
        equal(filtered.body.jobs.length, 1);
      });

      await t.step("unicode round-trips byte-exact", async () => {
        const text = "héllo wörld — 日本語 🎉 \u{1F600} \u200d e\u0301 𝕏 \uFEFF";
        const body = JSON.stringify({ kind: `k.${text}`, payload: { text, nested: [text] } });
        const res = await api.app.request("/v1/jobs", {
          method: "POST",
          headers: {
            authorization: `Bearer ${api.tokens.admin}`,
            "content-type": "application/json",
          },
          body: new TextEncoder().encode(body),
        });
        equal(res.status, 201);
        const { job } = await res.json();
        const got = await api.app.request(`/v1/jobs/${job.id}`, {
          headers: { authorization: `Bearer ${api.tokens.admin}` },
        });
        const raw = new Uint8Array(await got.arrayBuffer());
        const back = JSON.parse(new TextDecoder().decode(raw)).job;
        equal(back.payload.text, text);
        equal(back.kind, `k.${text}`);
        deepStrictEqual(
          new TextEncoder().encode(back.payload.nested[0]),
          new TextEncoder().encode(text),
        );
      });

      await t.step("unknown routes and ids answer 404 in the error shape", async () => {
        const r = await api.call("GET", "/v1/nothing");
        equal(r.status, 404);
        equal(r.body.error.code, "NOT_FOUND");
        for (const id of ["abc", "0", "99999999999999999999", "1;DROP"]) {
          const j = await api.call("GET", `/v1/jobs/${encodeURIComponent(id)}`);
          equal(j.status, 404, id);
          equal(j.body.error.code, "JOB_NOT_FOUND");
          equal((await api.call("POST", `/v1/jobs/${encodeURIComponent(id)}/cancel`)).status, 404);
        }
      });

      await t.step("bad query parameters answer 400", async () => {
        for (
          const q of [
            "state=bogus",
            "limit=0",
            "limit=abc",
            "before=x",
            "colour=red",
            "retryOf=abc",
            "retryOf=99999999999999999999",
          ]
        ) {
          const r = await api.call("GET", `/v1/jobs?${q}`);
          equal(r.status, 400, q);
          equal(r.body.error.code, "VALIDATION_FAILED");
        }
        for (
          const path of [
            "/v1/dlq?since=0000-01-01T00:00:00Z",
            "/v1/dlq?until=%2B275760-09-13T00:00:00Z",
            "/v1/ingest/decisions?since=0000-01-01T00:00:00Z",
            "/v1/dlq?kind=a%00b",
          ]
        ) {
          const r = await api.call("GET", path);
          equal(r.status, 400, path);
          equal(r.body.error.code, "VALIDATION_FAILED");
        }
      });

      await t.step("times PostgreSQL cannot store answer 400, not 500", async () => {
        for (const runAt of ["0000-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00"]) {
          const r = await api.call("POST", "/v1/jobs", { body: { kind: "k", runAt } });
          equal(r.status, 400, `${runAt}: ${JSON.stringify(r.body)}`);
          equal(r.body.error.code, "VALIDATION_FAILED");
        }
      });

      await t.step("security headers and a request id come with every answer", async () => {
        const r = await api.call("GET", "/v1/queues");
        assert(r.headers.get("x-request-id"));
        equal(r.headers.get("x-content-type-options"), "nosniff");
      });
    },
    {},
    { maxBodyBytes: 64 * 1024 },
  );
});

Deno.test("a batch is all or nothing and its size is capped", async () => {
  await withTestApi(async (api) => {
    const ok = await api.call("POST", "/v1/jobs/batch", {
      body: {
        jobs: [{ kind: "a" }, { kind: "b", idempotencyKey: "k1" }, {
          kind: "b",
          idempotencyKey: "k1",
        }],
      },
    });
    equal(ok.status, 201);
    deepStrictEqual(ok.body.results.map((r: { duplicate: boolean }) => r.duplicate), [
      false,
      false,
      true,
    ]);
    const bad = await api.call("POST", "/v1/jobs/batch", {
      body: { jobs: [{ kind: "a" }, { kind: "b", payload: 7 }] },
    });
    equal(bad.status, 400);
    equal(bad.body.error.details.index, 1);
    const big = await api.call("POST", "/v1/jobs/batch", {
      body: { jobs: [{ kind: "a" }, { kind: "a" }, { kind: "a" }, { kind: "a" }] },
    });
    equal(big.status, 413);
    equal(big.body.error.code, "BATCH_TOO_LARGE");
    const empty = await api.call("POST", "/v1/jobs/batch", { body: { jobs: [] } });
    equal(empty.status, 400);
    const [{ n }] = await api.db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    equal(n, 2);
  }, { SLUICE_MAX_BATCH_SIZE: "3" });
});

Deno.test("a POST without a body needs no content type", async () => {
  await withTestApi(async (api) => {
    const { body } = await api.call("POST", "/v1/jobs", { body: { kind: "k" } });
    const r = await api.app.request(`/v1/jobs/${body.job.id}/cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${api.tokens.admin}`, "content-type": "application/json" },
    });
    equal(r.status, 200);
  });
});
