/**
 * The page's API client over real HTTP: a local server stands in for the API so each error
 * path can be produced on demand.
 */
import { deepEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { api, ApiError, onUnauthorized, qs, session } from "../../static/client.js";

function serve(handler: (req: Request) => Response) {
  const seen: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(new Headers(req.headers));
    return handler(req);
  });
  return { base: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("qs() drops empty values and encodes the rest", () => {
  equal(qs({}), "");
  equal(qs({ a: "", b: null, c: undefined, d: "x y", e: 0 }), "?d=x+y&e=0");
});

Deno.test("api() sends the CSRF header on state changes only, and JSON bodies", async () => {
  const s = serve(() => Response.json({ ok: true }));
  try {
    session.csrfToken = "csrf-1";
    deepEqual(await api("GET", `${s.base}/v1/queues`), { ok: true });
    await api("POST", `${s.base}/v1/queues/a/pause`, { why: "test" });
    equal(s.seen[0]!.get("x-csrf-token"), null);
    equal(s.seen[1]!.get("x-csrf-token"), "csrf-1");
    equal(s.seen[1]!.get("content-type"), "application/json");
  } finally {
    session.csrfToken = null;
    await s.close();
  }
});

Deno.test("api() turns an error body into an ApiError with its code", async () => {
  const s = serve(() =>
    Response.json({
      error: { code: "QUEUE_PAUSED", message: "queue 'a' is paused", details: { queue: "a" } },
    }, {
      status: 409,
    })
  );
  try {
    await rejects(api("POST", `${s.base}/v1/jobs`, {}), (e: unknown) => {
      assert(e instanceof ApiError);
      equal(e.status, 409);
      equal(e.code, "QUEUE_PAUSED");
      deepEqual(e.details, { queue: "a" });
      return true;
    });
  } finally {
    await s.close();
  }
});

Deno.test("api() says NETWORK_ERROR when nothing answers", async () => {
  const s = serve(() => new Response());
  const base = s.base;
  await s.close();
  await rejects(api("GET", `${base}/v1/queues`), (e: unknown) => {
    assert(e instanceof ApiError);
    equal(e.status, 0);
    equal(e.code, "NETWORK_ERROR");
    return true;
  });
});

Deno.test("api() reports a 401 outside /v1/session as the session ending", async () => {
  const s = serve(() =>
    Response.json({ error: { code: "TOKEN_REVOKED", message: "revoked", details: {} } }, {
      status: 401,
    })
  );
  const ended: string[] = [];
  onUnauthorized((e) => ended.push(e.code));
  try {
    await rejects(api("GET", `${s.base}/v1/queues`));
    deepEqual(ended, ["TOKEN_REVOKED"]);
    // A refused sign-in is not a session ending.
    await rejects(api("POST", `${s.base}/v1/session`, { token: "x" }));
    deepEqual(ended, ["TOKEN_REVOKED"]);
  } finally {
    onUnauthorized(() => {});
    await s.close();
  }
});
