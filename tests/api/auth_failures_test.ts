import { deepStrictEqual, equal, ok as assert, throws } from "node:assert/strict";
import { AuthFailureLimiter } from "../../src/api/auth_failures.ts";
import { isSluiceError } from "../../src/errors.ts";
import { createLogger } from "../../src/obs/log.ts";
import { parsePrometheus, valueOf } from "../obs/_prom_parser.ts";
import { withTestApi } from "./_app.ts";

Deno.test("AuthFailureLimiter locks an address out, for longer each time", async (t) => {
  let now = 1_000_000;
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  const lim = new AuthFailureLimiter(log, {
    maxFailures: 3,
    windowMs: 60_000,
    lockoutMs: 10_000,
    now: () => now,
  });
  const locked = (ip: string) => {
    try {
      lim.assertNotLocked(ip);
      return null;
    } catch (e) {
      assert(isSluiceError(e, "RATE_LIMITED"));
      return e.details.retryAfterSeconds;
    }
  };
  await t.step("failures spread over more than a window never lock", () => {
    for (let i = 0; i < 5; i++) {
      lim.fail("a", "invalid_token");
      now += 40_000;
    }
    equal(locked("a"), null);
  });
  await t.step("the third failure within the window locks for 10 s", () => {
    for (let i = 0; i < 3; i++) lim.fail("b", "invalid_token");
    equal(locked("b"), 10);
    equal(locked("c"), null, "other addresses are not affected");
    now += 10_000;
    equal(locked("b"), null);
  });
  await t.step("the next lockout of the same address lasts twice as long", () => {
    for (let i = 0; i < 3; i++) lim.fail("b", "invalid_sign_in");
    equal(locked("b"), 20);
  });
  deepStrictEqual(lim.failures, {
    invalid_token: 8,
    invalid_id_token: 0,
    invalid_sign_in: 3,
    locked_out: 2,
  });
  deepStrictEqual(
    lines.filter((l) => l.msg === "auth_locked_out").map((l) => [l.ip, l.lockout_s]),
    [["b", 10], ["b", 20]],
  );
  throws(() => lim.assertNotLocked("b"), /too many failed authentication attempts/);
});

Deno.test("after repeated wrong tokens, even the right one is refused from that address", async () => {
  // Clients behind a trusted proxy, told apart by X-Forwarded-For.
  await withTestApi(async (api) => {
    const from = (ip: string, token: string) => ({
      as: null,
      headers: { "x-forwarded-for": ip, authorization: `Bearer ${token}` },
    });
    const attacker = "203.0.113.66";
    for (let i = 0; i < 10; i++) {
      const r = await api.call("GET", "/v1/queues", from(attacker, `sluice_guess${i}`));
      equal(r.status, 401, `guess ${i}`);
    }
    const right = await api.call("GET", "/v1/queues", from(attacker, api.tokens.read));
    equal(right.status, 429);
    equal(right.body.error.code, "RATE_LIMITED");
    equal(right.body.error.details.scope, "auth");
    assert(Number(right.headers.get("retry-after")) >= 50);
    // The ops page's sign-in form and /health's detail check are refused the same way.
    const signIn = await api.call("POST", "/v1/session", {
      as: null,
      body: { token: api.tokens.read },
      headers: { "x-forwarded-for": attacker },
    });
    equal(signIn.status, 429);
    equal((await api.call("GET", "/health", from(attacker, api.tokens.read))).status, 429);
    // Someone else behind the same proxy is unaffected.
    equal((await api.call("GET", "/v1/queues", from("203.0.113.1", api.tokens.read))).status, 200);

    const failed = api.logs.filter((l) => l.msg === "auth_failed");
    equal(failed.length, 10);
    deepStrictEqual([failed[0]!.ip, failed[0]!.reason], [attacker, "invalid_token"]);
    const out = api.logs.filter((l) => l.msg === "auth_locked_out");
    deepStrictEqual(out.map((l) => [l.ip, l.lockout_s]), [[attacker, 60]]);
    const fam = parsePrometheus((await api.call("GET", "/metrics/prom", { as: "read" })).body);
    equal(valueOf(fam, "sluice_auth_failures_total", { reason: "invalid_token" }), 10);
    equal(valueOf(fam, "sluice_auth_failures_total", { reason: "locked_out" }), 3);
    equal(valueOf(fam, "sluice_auth_failures_total", { reason: "invalid_sign_in" }), 0);
  }, { SLUICE_TRUSTED_PROXIES: "192.0.2.0/24" });
});

Deno.test("wrong tokens typed into the sign-in form lock the address out too", async () => {
  await withTestApi(async (api) => {
    const signIn = (token: string) =>
      api.call("POST", "/v1/session", { as: null, body: { token } });
    for (let i = 0; i < 10; i++) equal((await signIn(`sluice_guess${i}`)).status, 401);
    const right = await signIn(api.tokens.admin);
    equal(right.status, 429);
    equal(right.headers.get("set-cookie"), null, "no session for a locked-out address");
    equal(api.ctx.authFailures.failures.invalid_sign_in, 10);
  });
});
