import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { createApiContext, createApp } from "../../src/api/app.ts";
import { generateToken, revokeToken, upsertBootstrapToken } from "../../src/auth/tokens.ts";
import { type TestApi, withTestApi } from "./_app.ts";

/** The cookie pair (`name=value`) a Set-Cookie header sets. */
function cookieOf(headers: Headers): string {
  const set = headers.get("set-cookie") ?? "";
  return set.split(";")[0]!;
}

Deno.test("session routes: sign in with a token, use the cookie, CSRF, sign out", async (t) => {
  await withTestApi(async (api) => {
    const signIn = (token: string, headers: Record<string, string> = {}) =>
      api.call("POST", "/v1/session", { as: null, body: { token }, headers });

    await t.step("a bad token is refused", async () => {
      const r = await signIn("sluice_nope");
      equal(r.status, 401);
      equal(r.body.error.code, "UNAUTHENTICATED");
    });

    const r = await signIn(api.tokens.admin);
    equal(r.status, 200);
    equal(r.body.name, "t-admin");
    equal(r.body.scope, "admin");
    const set = r.headers.get("set-cookie") ?? "";
    assert(/HttpOnly/i.test(set) && /SameSite=Strict/i.test(set) && /Path=\//.test(set), set);
    assert(!set.includes(api.tokens.admin), "the cookie never holds the token");
    const cookie = cookieOf(r.headers);
    const csrf = r.body.csrfToken as string;

    await t.step(
      "the cookie authenticates reads; GET /v1/session returns the same CSRF token",
      async () => {
        const q = await api.call("GET", "/v1/queues", { as: null, headers: { cookie } });
        equal(q.status, 200);
        const s = await api.call("GET", "/v1/session", { as: null, headers: { cookie } });
        equal(s.status, 200);
        deepEqual([s.body.scope, s.body.csrfToken], ["admin", csrf]);
      },
    );

    await t.step("state changes need the CSRF header and a same-origin Origin", async () => {
      const path = "/v1/queues/default/pause";
      const bare = await api.call("POST", path, { as: null, headers: { cookie } });
      equal(bare.status, 403);
      equal(bare.body.error.code, "CSRF_REJECTED");
      const wrong = await api.call("POST", path, {
        as: null,
        headers: { cookie, "x-csrf-token": csrf.slice(0, -2) + "AA" },
      });
      equal(wrong.status, 403);
      const evil = await api.call("POST", path, {
        as: null,
        headers: { cookie, "x-csrf-token": csrf, origin: "http://evil.example", host: "localhost" },
      });
      equal(evil.status, 403);
      equal(evil.body.error.code, "CSRF_REJECTED");
      const site = await api.call("POST", path, {
        as: null,
        headers: { cookie, "x-csrf-token": csrf, "sec-fetch-site": "cross-site" },
      });
      equal(site.status, 403);
      const ok = await api.call("POST", path, {
        as: null,
        headers: { cookie, "x-csrf-token": csrf, origin: "http://localhost", host: "localhost" },
      });
      equal(ok.status, 200, JSON.stringify(ok.body));
      equal(ok.body.queue.paused, true);
    });

    await t.step("a tampered cookie is no session", async () => {
      const [name, value] = cookie.split("=");
      const [payload, sig] = value!.split(".");
      const forged = `${name}=${payload!.slice(0, -1)}${payload!.endsWith("A") ? "B" : "A"}.${sig}`;
      equal(
        (await api.call("GET", "/v1/queues", { as: null, headers: { cookie: forged } })).status,
        401,
      );
    });

    await t.step("a read session cannot mutate", async () => {
      const rr = await signIn(api.tokens.read);
      const c2 = cookieOf(rr.headers);
      const p = await api.call("POST", "/v1/queues/default/resume", {
        as: null,
        headers: {
          cookie: c2,
          "x-csrf-token": rr.body.csrfToken,
          origin: "http://localhost",
          host: "localhost",
        },
      });
      equal(p.status, 403);
      equal(p.body.error.code, "FORBIDDEN");
    });

    await t.step("sign-in from another origin is refused (login CSRF)", async () => {
      const x = await signIn(api.tokens.admin, {
        origin: "http://evil.example",
        host: "localhost",
      });
      equal(x.status, 403);
    });

    await t.step("sign out clears the cookie and ends that session here", async () => {
      const out = await api.call("DELETE", "/v1/session", {
        as: null,
        headers: { cookie, origin: "http://localhost", host: "localhost" },
      });
      equal(out.status, 204);
      assert(/Max-Age=0/i.test(out.headers.get("set-cookie") ?? ""));
      equal((await api.call("GET", "/v1/session", { as: null, headers: { cookie } })).status, 401);
    });

    await t.step("revoking the token ends its sessions", async () => {
      const p = await signIn(api.tokens.producer);
      const c3 = cookieOf(p.headers);
      equal(
        (await api.call("GET", "/v1/session", { as: null, headers: { cookie: c3 } })).status,
        200,
      );
      await revokeToken(api.db.sql, "t-producer");
      equal(
        (await api.call("GET", "/v1/session", { as: null, headers: { cookie: c3 } })).status,
        401,
      );
    });
  });
});

/** Another api process on the same database and config (or this one after a restart). */
function anotherApi(api: TestApi) {
  const { sql, config, log, defaults } = api.ctx;
  const app = createApp(
    createApiContext({ sql, config, log, defaults, tokenCacheMs: 0, clientIp: () => "192.0.2.1" }),
  );
  return async (path: string, cookie: string) => {
    const res = await app.request(path, { headers: { cookie } });
    return { status: res.status, body: await res.json() };
  };
}

Deno.test("sessions end for good: sign-out and revocation hold across restarts and processes", async (t) => {
  await withTestApi(async (api) => {
    const signIn = async (token: string) => {
      const r = await api.call("POST", "/v1/session", { as: null, body: { token } });
      equal(r.status, 200, JSON.stringify(r.body));
      return cookieOf(r.headers);
    };
    const same = { origin: "http://localhost", host: "localhost" };

    await t.step("a signed-out cookie stays refused by a restarted api", async () => {
      const cookie = await signIn(api.tokens.admin);
      const other = anotherApi(api);
      equal((await other("/v1/session", cookie)).status, 200, "the secret is shared");
      equal(
        (await api.call("DELETE", "/v1/session", { as: null, headers: { cookie, ...same } }))
          .status,
        204,
      );
      const restarted = anotherApi(api);
      const r = await restarted("/v1/queues", cookie);
      equal(r.status, 401);
      equal(r.body.error.code, "SESSION_REVOKED");
      equal((await other("/v1/session", cookie)).body.error.code, "SESSION_REVOKED");
    });

    await t.step("revoking the token ends its sessions with TOKEN_REVOKED", async () => {
      const cookie = await signIn(api.tokens.read);
      await revokeToken(api.db.sql, "t-read");
      for (const path of ["/v1/session", "/v1/queues"]) {
        const r = await api.call("GET", path, { as: null, headers: { cookie } });
        equal(r.status, 401, path);
        equal(r.body.error.code, "TOKEN_REVOKED", path);
      }
      const [row] = await api.db.sql`
        SELECT revoked_reason FROM sluice.sessions s JOIN sluice.tokens t ON t.id = s.token_id
        WHERE t.name = 't-read'`;
      equal(row!.revoked_reason, "token_revoked");
    });

    await t.step("a replaced bootstrap value's sessions stay ended if it comes back", async () => {
      const first = generateToken(), second = generateToken();
      await upsertBootstrapToken(api.db.sql, first);
      const cookie = await signIn(first);
      await upsertBootstrapToken(api.db.sql, second);
      const gone = await api.call("GET", "/v1/session", { as: null, headers: { cookie } });
      equal(gone.body.error.code, "TOKEN_REVOKED");
      await upsertBootstrapToken(api.db.sql, first);
      const still = await api.call("GET", "/v1/session", { as: null, headers: { cookie } });
      equal(still.body.error.code, "TOKEN_REVOKED");
      equal(
        (await api.call("GET", "/v1/session", {
          as: null,
          headers: { cookie: await signIn(first) },
        })).status,
        200,
      );
    });
  }, { SLUICE_SESSION_SECRET: "a-shared-session-secret-0123456789" });
});

Deno.test("the ops page is served from the embedded map only, with a strict CSP", async () => {
  await withTestApi(async (api) => {
    const page = await api.app.request("/");
    equal(page.status, 200);
    assert(page.headers.get("content-type")!.startsWith("text/html"));
    const csp = page.headers.get("content-security-policy") ?? "";
    assert(csp.includes("script-src 'self'") && !csp.includes("unsafe"), csp);
    const html = await page.text();
    assert(html.includes('<script type="module" src="/app.js">'));
    assert(!/<script>/.test(html), "no inline script");
    const js = await api.app.request("/app.js");
    assert(js.headers.get("content-type")!.startsWith("text/javascript"));
    const etag = js.headers.get("etag")!;
    equal((await api.app.request("/app.js", { headers: { "if-none-match": etag } })).status, 304);
    equal(
      (await api.app.request("/app.css")).headers.get("content-type"),
      "text/css; charset=utf-8",
    );
    for (
      const path of [
        "/static/app.js",
        "/../deno.json",
        "/%2e%2e/deno.json",
        "/main.ts",
        "/app.js/x",
      ]
    ) {
      equal((await api.app.request(path)).status, 404, path);
    }
  });
});

Deno.test("GET /v1/stats/throughput answers per-minute buckets for read tokens", async () => {
  await withTestApi(async (api) => {
    await api.db.sql`
      INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, finished_at)
      VALUES ('default', 'k', '{}', 'succeeded', 1, now()), ('default', 'k', '{}', 'dead', 1, now())`;
    const r = await api.call("GET", "/v1/stats/throughput?window=1h", { as: "read" });
    equal(r.status, 200, JSON.stringify(r.body));
    equal(r.body.bucketSeconds, 60);
    equal(r.body.buckets.reduce((a: number, b: { succeeded: number }) => a + b.succeeded, 0), 1);
    equal((await api.call("GET", "/v1/stats/throughput?window=2d")).status, 400);
    equal((await api.call("GET", "/v1/stats/throughput", { as: null })).status, 401);
  });
});
