import { equal, match, ok as assert } from "node:assert/strict";
import { addIdentity, listIdentities } from "../../src/auth/identities.ts";
import { createTestApi, type TestApi } from "../api/_app.ts";
import { b64url, newKey, startIssuer, type TestIssuer } from "./_issuer.ts";

async function setup(): Promise<{ api: TestApi; issuer: TestIssuer }> {
  const issuer = await startIssuer();
  const api = await createTestApi({
    SLUICE_OIDC_ISSUER: issuer.url,
    SLUICE_OIDC_AUDIENCE: "sluice-api",
    SLUICE_OIDC_CLOCK_SKEW: "30s",
    // The test's fixed peer address is a proxy, so each case can come from its own client
    // (x-forwarded-for) and the failed-auth lockout is tested on purpose, not hit by accident.
    SLUICE_TRUSTED_PROXIES: "192.0.2.1/32",
  });
  return { api, issuer };
}

let nextClient = 1;

/** A request with `Authorization: Bearer <jwt>`, from a new client address unless `from`. */
async function as(
  api: TestApi,
  jwt: string,
  method: string,
  path: string,
  body?: unknown,
  from = `198.51.100.${nextClient++}`,
) {
  const res = await api.app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${jwt}`,
      "content-type": "application/json",
      "x-forwarded-for": from,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("an ID token of a granted identity is a caller with the identity's scope", async (t) => {
  const { api, issuer } = await setup();
  try {
    const sql = api.db.sql;
    await addIdentity(sql, { issuer: issuer.url, subject: "reader-1", scope: "read" });
    await addIdentity(sql, { issuer: issuer.url, subject: "ci", scope: "producer", name: "ci" });
    await addIdentity(sql, { issuer: issuer.url, subject: "ops", scope: "admin" });
    await addIdentity(sql, { issuer: issuer.url, email: "Bot@Example.com", scope: "read" });

    await t.step("read scope reads and is refused writes (403, not 401)", async () => {
      const jwt = await issuer.sign({ sub: "reader-1" });
      equal((await as(api, jwt, "GET", "/v1/jobs")).status, 200);
      const w = await as(api, jwt, "POST", "/v1/queues", { name: "q1" });
      equal(w.status, 403);
      equal(w.body.error.code, "FORBIDDEN");
    });

    await t.step("a producer identity owns its jobs like a producer token", async () => {
      const jwt = await issuer.sign({ sub: "ci" });
      const r = await as(api, jwt, "POST", "/v1/jobs", { kind: "k", idempotencyKey: "o-1" });
      equal(r.status, 201);
      const [row] = await sql<{ created_by: string; key_owner: string }[]>`
        SELECT created_by, key_owner FROM sluice.jobs WHERE id = ${r.body.job.id}`;
      equal(row!.created_by, "identity/ci");
      equal(row!.key_owner, "identity/ci");
      // Another producer neither sees it nor shares its idempotency key.
      const other = await api.call("GET", `/v1/jobs/${r.body.job.id}`, { as: "producer" });
      equal(other.status, 404);
      const dup = await api.call("POST", "/v1/jobs", {
        as: "producer",
        body: { kind: "k", idempotencyKey: "o-1" },
      });
      equal(dup.status, 201);
      equal((await as(api, jwt, "GET", `/v1/jobs/${r.body.job.id}`)).status, 200);
    });

    await t.step("an admin identity replays the DLQ and manages identities", async () => {
      const jwt = await issuer.sign({ sub: "ops" });
      const r = await as(api, jwt, "POST", "/v1/dlq/replay", { queue: "default" });
      equal(r.status, 200, JSON.stringify(r.body));
      const list = await as(api, jwt, "GET", "/v1/identities");
      equal(list.status, 200);
      equal(list.body.issuer, issuer.url);
      equal(list.body.identities.length, 4);
      const reader = await as(api, await issuer.sign({ sub: "reader-1" }), "GET", "/v1/identities");
      equal(reader.status, 403);
    });

    await t.step("an email grant matches only a verified email", async () => {
      const ok = await issuer.sign({ sub: "x-1", email: "bot@example.com", email_verified: true });
      equal((await as(api, ok, "GET", "/v1/jobs")).status, 200);
      const unverified = await issuer.sign({
        sub: "x-2",
        email: "bot@example.com",
        email_verified: false,
      });
      const r = await as(api, unverified, "GET", "/v1/jobs");
      equal(r.status, 401);
      equal(r.body.error.code, "EMAIL_NOT_VERIFIED");
      // "true" as a string is not true.
      const text = await issuer.sign({
        sub: "x-3",
        email: "bot@example.com",
        email_verified: "true",
      });
      equal((await as(api, text, "GET", "/v1/jobs")).body.error.code, "EMAIL_NOT_VERIFIED");
    });

    await t.step("last use is recorded (batched) and revocation takes effect", async () => {
      await api.ctx.idTokens!.flush();
      const used = (await listIdentities(sql)).find((i) => i.name === "ci")!;
      assert(used.lastUsedAt, "lastUsedAt written");
      const admin = await issuer.sign({ sub: "ops" });
      const id = used.id;
      equal((await as(api, admin, "DELETE", `/v1/identities/${id}`)).status, 200);
      const r = await as(api, await issuer.sign({ sub: "ci" }), "GET", "/v1/jobs");
      equal(r.body.error.code, "IDENTITY_NOT_ALLOWED");
    });
  } finally {
    await api.close();
    await issuer.close();
  }
});

Deno.test("ID tokens are refused with a distinct code each, logged and counted", async (t) => {
  const { api, issuer } = await setup();
  try {
    await addIdentity(api.db.sql, { issuer: issuer.url, subject: "workload-1", scope: "read" });
    const now = Math.floor(Date.now() / 1000);
    const key = issuer.keys[0]!;
    const refused = async (jwt: string, code: string) => {
      const r = await as(api, jwt, "GET", "/v1/jobs");
      equal(r.status, 401, JSON.stringify(r.body));
      equal(r.body.error.code, code, r.body.error.message);
    };
    await t.step("a valid token passes (the baseline the others change)", async () => {
      equal((await as(api, await issuer.sign(), "GET", "/v1/jobs")).status, 200);
    });
    await t.step("alg none", async () => {
      const payload = { iss: issuer.url, sub: "workload-1", aud: "sluice-api", exp: now + 600 };
      await refused(
        `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`,
        "ALGORITHM_NOT_ALLOWED",
      );
    });
    await t.step("HS256 signed with the issuer's public key", async () => {
      const payload = { iss: issuer.url, sub: "workload-1", aud: "sluice-api", exp: now + 600 };
      const input = `${b64url({ alg: "HS256", kid: key.kid, typ: "JWT" })}.${b64url(payload)}`;
      const hmac = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(JSON.stringify(key.publicJwk)),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const sig = new Uint8Array(
        await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(input)),
      );
      await refused(`${input}.${b64url(sig)}`, "ALGORITHM_NOT_ALLOWED");
    });
    await t.step("another audience", async () => {
      await refused(await issuer.sign({ aud: "someone-else" }), "AUDIENCE_MISMATCH");
    });
    await t.step("expired (beyond the 30 s skew)", async () => {
      await refused(await issuer.sign({ iat: now - 700, exp: now - 60 }), "TOKEN_EXPIRED");
    });
    await t.step("within the skew still passes", async () => {
      equal((await as(api, await issuer.sign({ exp: now - 5 }), "GET", "/v1/jobs")).status, 200);
    });
    await t.step("not yet valid (nbf), and issued in the future (iat)", async () => {
      await refused(await issuer.sign({ nbf: now + 300 }), "TOKEN_NOT_YET_VALID");
      await refused(await issuer.sign({ iat: now + 300 }), "TOKEN_NOT_YET_VALID");
    });
    await t.step("another issuer's iss, signed with the issuer's key", async () => {
      await refused(await issuer.sign({ iss: "https://evil.example" }), "ISSUER_MISMATCH");
    });
    await t.step("a key the issuer does not publish, under its kid", async () => {
      const forged = { ...(await newKey()), kid: key.kid };
      await refused(await issuer.sign({}, { key: forged }), "SIGNATURE_INVALID");
    });
    await t.step("an unknown kid", async () => {
      await refused(await issuer.sign({}, { key: await newKey() }), "SIGNATURE_INVALID");
    });
    await t.step("a valid token of an identity nobody granted", async () => {
      await refused(await issuer.sign({ sub: "stranger" }), "IDENTITY_NOT_ALLOWED");
    });
    await t.step("garbage shaped like a JWT", async () => {
      await refused("bm90LWpzb24.eyJ9.abc", "TOKEN_MALFORMED");
    });
    await t.step("each refusal is logged with its code and counted", async () => {
      const logged = api.logs.filter((l) => l.msg === "id_token_refused").map((l) => l.code);
      for (const code of ["ALGORITHM_NOT_ALLOWED", "AUDIENCE_MISMATCH", "TOKEN_EXPIRED"]) {
        assert(logged.includes(code), code);
      }
      const prom = await (await api.app.request("/metrics/prom", {
        headers: { authorization: `Bearer ${api.tokens.admin}` },
      })).text();
      match(prom, /sluice_id_token_refusals_total\{use="api",code="ALGORITHM_NOT_ALLOWED"\} 2/);
      match(prom, /sluice_id_token_refusals_total\{use="api",code="TOKEN_NOT_YET_VALID"\} 2/);
      match(prom, /sluice_id_token_refusals_total\{use="api",code="IDENTITY_NOT_ALLOWED"\} 1/);
    });
    await t.step("the failed-auth limiter locks the address out, the valid token too", async () => {
      const bad = await issuer.sign({ aud: "someone-else" });
      for (let i = 0; i < 10; i++) {
        equal((await as(api, bad, "GET", "/v1/jobs", undefined, "203.0.113.9")).status, 401);
      }
      const r = await as(api, await issuer.sign(), "GET", "/v1/jobs", undefined, "203.0.113.9");
      equal(r.status, 429);
      equal(r.body.error.code, "RATE_LIMITED");
      assert(api.logs.some((l) => l.msg === "auth_locked_out"));
    });
  } finally {
    await api.close();
    await issuer.close();
  }
});
