import { deepStrictEqual, equal, match, ok as assert } from "node:assert/strict";
import {
  createToken,
  generateToken,
  hashToken,
  listTokens,
  revokeToken,
  upsertBootstrapToken,
} from "../../src/auth/tokens.ts";
import { withTestApi } from "./_app.ts";

Deno.test("API authentication and scopes", async (t) => {
  await withTestApi(async (api) => {
    await t.step("tokens are sluice_ + 32 base62 characters, stored as SHA-256 hex", async () => {
      const a = generateToken(), b = generateToken();
      match(a, /^sluice_[0-9A-Za-z]{32}$/);
      assert(a !== b);
      const [row] = await api.db.sql`SELECT hash FROM sluice.tokens WHERE name = 't-admin'`;
      equal(row!.hash, await hashToken(api.tokens.admin));
    });

    await t.step("no token, a malformed header or an unknown token answer 401", async () => {
      const variants: Record<string, string>[] = [
        {},
        { authorization: "Basic abc" },
        { authorization: "Bearer nope" },
      ];
      for (const headers of variants) {
        const r = await api.call("GET", "/v1/jobs", { as: null, headers });
        equal(r.status, 401);
        equal(r.body.error.code, "UNAUTHENTICATED");
      }
    });

    await t.step("a revoked token answers 401", async () => {
      const { token } = await createToken(api.db.sql, { name: "gone", scope: "admin" });
      equal(
        (await api.call("GET", "/v1/queues", {
          headers: { authorization: `Bearer ${token}` },
          as: null,
        })).status,
        200,
      );
      await revokeToken(api.db.sql, "gone");
      const r = await api.call("GET", "/v1/queues", {
        as: null,
        headers: { authorization: `Bearer ${token}` },
      });
      equal(r.status, 401);
    });

    await t.step("a wrong scope answers 403 FORBIDDEN", async () => {
      const cases: [string, string, "read" | "worker" | "producer", unknown?][] = [
        ["POST", "/v1/jobs", "read", { kind: "k" }],
        ["POST", "/v1/jobs", "worker", { kind: "k" }],
        ["POST", "/v1/queues", "producer", { name: "x" }],
        ["GET", "/v1/dlq", "producer"],
        ["GET", "/v1/workers", "worker"],
        ["POST", "/v1/queues/default/lease", "producer", {}],
        ["GET", "/v1/ingest/decisions", "producer"],
      ];
      for (const [method, path, as, body] of cases) {
        const r = await api.call(method, path, { as, body });
        equal(r.status, 403, `${method} ${path} as ${as}`);
        equal(r.body.error.code, "FORBIDDEN");
      }
    });

    await t.step("a 403 names the scopes that would do, without a dangling comma", async () => {
      const adminOnly = await api.call("POST", "/v1/queues", { as: "read", body: { name: "x" } });
      equal(
        adminOnly.body.error.message,
        "a 'read' token cannot do this; it needs an 'admin' token",
      );
      deepStrictEqual(adminOnly.body.error.details.required, ["admin"]);
      const two = await api.call("POST", "/v1/jobs", { as: "worker", body: { kind: "k" } });
      equal(
        two.body.error.message,
        "a 'worker' token cannot do this; it needs one of: admin, producer",
      );
    });

    await t.step("a producer sees, retries and cancels only its own jobs", async () => {
      const mine = await api.call("POST", "/v1/jobs", { as: "producer", body: { kind: "k" } });
      const theirs = await api.call("POST", "/v1/jobs", { as: "producer2", body: { kind: "k" } });
      equal(mine.body.job.createdBy, "t-producer");
      const other = theirs.body.job.id;
      for (
        const [method, path] of [
          ["GET", `/v1/jobs/${other}`],
          ["GET", `/v1/jobs/${other}/timeline`],
          ["GET", `/v1/jobs/${other}/explain`],
          ["POST", `/v1/jobs/${other}/cancel`],
          ["POST", `/v1/jobs/${other}/retry`],
          ["POST", `/v1/jobs/${other}/replay`],
        ]
      ) {
        const r = await api.call(method!, path!, { as: "producer" });
        equal(r.status, 404, `${method} ${path} ${JSON.stringify(r.body)}`);
        equal(r.body.error.code, "JOB_NOT_FOUND");
      }
      const list = await api.call("GET", "/v1/jobs", { as: "producer" });
      deepStrictEqual(list.body.jobs.map((j: { id: string }) => j.id), [mine.body.job.id]);
      equal((await api.call("GET", `/v1/jobs/${other}`, { as: "read" })).status, 200);
      equal(
        (await api.call("POST", `/v1/jobs/${mine.body.job.id}/cancel`, { as: "producer" })).status,
        200,
      );
    });

    await t.step("last_used_at is written in a batch, not per request", async () => {
      const before = await api.db.sql`SELECT last_used_at FROM sluice.tokens WHERE name = 't-read'`;
      equal(before[0]!.last_used_at, null);
      await api.call("GET", "/v1/queues", { as: "read" });
      await api.ctx.auth.flush();
      const after = await api.db.sql`SELECT last_used_at FROM sluice.tokens WHERE name = 't-read'`;
      assert(after[0]!.last_used_at instanceof Date);
    });

    await t.step(
      "the bootstrap token is an admin token; rotating it replaces the old one",
      async () => {
        const first = generateToken(), second = generateToken();
        await upsertBootstrapToken(api.db.sql, first);
        const as = (tok: string) =>
          api.call("GET", "/v1/workers", { as: null, headers: { authorization: `Bearer ${tok}` } });
        equal((await as(first)).status, 200);
        await upsertBootstrapToken(api.db.sql, second);
        equal((await as(first)).status, 401);
        equal((await as(second)).status, 200);
        await revokeToken(api.db.sql, "bootstrap");
        await upsertBootstrapToken(api.db.sql, second); // same value: the revocation sticks
        equal((await as(second)).status, 401);
        const b = (await listTokens(api.db.sql)).find((x) => x.name === "bootstrap")!;
        equal(b.scope, "admin");
      },
    );

    await t.step("/v1/openapi.json is public and lists every route", async () => {
      const r = await api.call("GET", "/v1/openapi.json", { as: null });
      equal(r.status, 200);
      for (
        const p of ["/v1/jobs", "/v1/jobs/batch", "/v1/dlq/replay", "/v1/queues/{queue}/lease"]
      ) {
        assert(r.body.paths[p], p);
      }
    });
  });
});

Deno.test("API rate limit answers 429 with Retry-After per token and per IP", async () => {
  await withTestApi(async (api) => {
    for (let i = 0; i < 3; i++) {
      equal((await api.call("GET", "/v1/queues", { as: "read" })).status, 200);
    }
    const r = await api.call("GET", "/v1/queues", { as: "read" });
    equal(r.status, 429);
    equal(r.body.error.code, "RATE_LIMITED");
    assert(Number(r.headers.get("retry-after")) >= 1);
    // Another token has its own budget.
    equal((await api.call("GET", "/v1/queues", { as: "admin" })).status, 200);
    for (let i = 0; i < 3; i++) {
      equal((await api.call("GET", "/v1/queues", { as: null })).status, 401);
    }
    equal((await api.call("GET", "/v1/queues", { as: null })).status, 429);
    deepStrictEqual(api.ctx.limiter.events, { token: 1, ip: 1, queue: 0 });
    equal(api.logs.filter((l) => l.msg === "rate_limited").length, 2);
  }, { SLUICE_API_RATE_LIMIT: "3" });
});
