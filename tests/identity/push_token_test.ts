import { deepStrictEqual, equal, notEqual, ok as assert, rejects } from "node:assert/strict";
import { createRemoteJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import { activeSigningKey, rotateSigningKey } from "../../src/auth/push_keys.ts";
import { PushTokenMinter } from "../../src/delivery/push_token.ts";
import { isSluiceError } from "../../src/errors.ts";
import { enqueueJob } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { httpDelivery } from "../../src/worker/http_delivery.ts";
import { Worker } from "../../src/worker/worker.ts";
import { createTestApi } from "../api/_app.ts";
import { waitFor } from "../_helpers/wait.ts";

const AUDIENCE = "https://receiver.example/hooks";
const KEY_SECRET = "push-key-secret-0123456789abcdef-0123";

/**
 * The api over real HTTP (its URL is the push issuer, so the socket is bound before the app is
 * built), and a receiver that verifies every push's ID token the way a stock JWT middleware
 * does: jose's createRemoteJWKSet against the api's /.well-known/jwks.json.
 */
async function setup() {
  let handler: (req: Request) => Response | Promise<Response> = () =>
    new Response(null, { status: 503 });
  const apiServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (r) => handler(r),
  );
  const issuer = `http://127.0.0.1:${apiServer.addr.port}`;
  const api = await createTestApi({
    SLUICE_PUSH_OIDC_ISSUER: issuer,
    SLUICE_PUSH_KEY_SECRET: KEY_SECRET,
    SLUICE_DELIVERY_ALLOW: "127.0.0.1/32",
  });
  handler = (r) => api.app.fetch(r);

  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  // Cooldown 0: the test skips the two minutes between a rotation and its key signing, in which
  // any receiver's cooldown (jose's default: 30 s) passes and an unknown kid refetches.
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { cooldownDuration: 0 });
  const seen: { kid: string; claims: JWTPayload; jobId: string }[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
    try {
      const { payload, protectedHeader } = await jwtVerify(bearer ?? "", jwks, {
        issuer: discovery.issuer,
        audience: AUDIENCE,
      });
      seen.push({
        kid: protectedHeader.kid!,
        claims: payload,
        jobId: req.headers.get("sluice-job-id")!,
      });
      return Response.json({ ok: true });
    } catch {
      return new Response("unauthorized", { status: 401 });
    }
  });
  const sql = api.db.sql;
  const worker = new Worker({
    sql,
    workerId: `push-${crypto.randomUUID().slice(0, 8)}`,
    queues: ["hooks"],
    concurrency: 2,
    leaseMs: 5_000,
    pollMs: 50,
    shutdownGraceMs: 1_000,
    deliveries: {
      http: httpDelivery({
        signingSecrets: [],
        deny: [],
        pushTokens: new PushTokenMinter(sql, {
          issuer,
          keySecret: KEY_SECRET,
          lifetimeMs: 300_000,
          keyCacheMs: 0,
        }),
      }),
    },
  });
  await createQueue(sql, "hooks", {
    delivery: {
      mode: "http",
      url: `http://127.0.0.1:${receiver.addr.port}/`,
      oidcAudience: AUDIENCE,
    },
  });
  await worker.start();
  const push = async () => {
    const { job } = await enqueueJob(sql, { queue: "hooks", kind: "k" });
    await waitFor(async () => (await getJob(sql, job.id))?.state === "succeeded", {
      what: `job ${job.id} succeeded`,
    });
    return seen.find((s) => s.jobId === job.id)!;
  };
  return {
    api,
    issuer,
    receiverUrl: `http://127.0.0.1:${receiver.addr.port}/`,
    discovery,
    seen,
    push,
    close: async () => {
      await worker.stop();
      await receiver.shutdown();
      await apiServer.shutdown();
      await api.close();
    },
  };
}

Deno.test("push ID tokens verify with a stock JWKS client against /.well-known/jwks.json, across a key rotation", async (t) => {
  const s = await setup();
  try {
    const sql = s.api.db.sql;
    await t.step("discovery is minimal and names the api as issuer", () => {
      equal(s.discovery.issuer, s.issuer);
      equal(s.discovery.jwks_uri, `${s.issuer}/.well-known/jwks.json`);
      deepStrictEqual(s.discovery.id_token_signing_alg_values_supported, ["ES256"]);
    });
    let first = "";
    await t.step("a push carries a short-lived token for the queue's audience", async () => {
      const got = await s.push();
      first = got.kid;
      equal(got.claims.aud, AUDIENCE);
      equal(got.claims.sub, "sluice:queue:hooks");
      equal(got.claims.exp! - got.claims.iat!, 300);
      // A young token is reused for the next push of the queue (no signature per push).
      equal((await s.push()).claims.jti, got.claims.jti);
    });
    await t.step("the API sets and shows a queue's oidcAudience", async () => {
      const r = await s.api.call("PATCH", "/v1/queues/hooks", {
        body: { delivery: { mode: "http", url: s.receiverUrl, oidcAudience: AUDIENCE } },
      });
      equal(r.status, 200, JSON.stringify(r.body));
      equal(r.body.queue.delivery.oidcAudience, AUDIENCE);
    });
    await t.step("the private key is encrypted at rest and needs its secret", async () => {
      const [row] = await sql<{ private_jwk: string }[]>`
        SELECT private_jwk FROM sluice.push_signing_keys WHERE kid = ${first}`;
      assert(row!.private_jwk.startsWith("enc:v1:"));
      await rejects(
        activeSigningKey(sql, "another-secret-0123456789abcdef-0123"),
        (e) => isSluiceError(e, "CONFIG_INVALID"),
      );
    });
    await t.step("a rotation publishes the next key before it signs", async () => {
      const r = await rotateSigningKey(sql, { secret: KEY_SECRET, tokenLifetimeMs: 300_000 });
      const kids = (await (await fetch(`${s.issuer}/.well-known/jwks.json`)).json()).keys
        .map((k: { kid: string }) => k.kid);
      assert(kids.includes(r.next.kid) && kids.includes(first), kids.join());
      equal((await s.push()).kid, first, "the old key signs until the new one activates");
    });
    await t.step("after the switch the new key signs and the old one still verifies", async () => {
      // Activate the pending key now (what two minutes of waiting would do).
      await sql`UPDATE sluice.push_signing_keys SET signs_from = now() WHERE kid <> ${first}`;
      const got = await s.push();
      notEqual(got.kid, first);
      const [old] = await sql<{ published_until: Date }[]>`
        SELECT published_until FROM sluice.push_signing_keys WHERE kid = ${first}`;
      assert(old!.published_until.getTime() > Date.now() + 300_000, "old key outlives its tokens");
    });
    await t.step("a compromised key is unpublished at once", async () => {
      const before = s.seen.at(-1)!.kid;
      const r = await rotateSigningKey(sql, {
        secret: KEY_SECRET,
        tokenLifetimeMs: 300_000,
        compromised: true,
      });
      const keys = (await (await fetch(`${s.issuer}/.well-known/jwks.json`)).json()).keys;
      deepStrictEqual(keys.map((k: { kid: string }) => k.kid), [r.next.kid]);
      const got = await s.push();
      equal(got.kid, r.next.kid);
      notEqual(got.kid, before);
      equal(
        decodeProtectedHeader(
          await new PushTokenMinter(sql, {
            issuer: s.issuer,
            keySecret: KEY_SECRET,
            lifetimeMs: 60_000,
          }).mint({ audience: "a", queue: "q" }),
        ).kid,
        r.next.kid,
      );
    });
  } finally {
    await s.close();
  }
});

Deno.test("a push whose token cannot be minted is not sent and retries as PUSH_TOKEN_UNAVAILABLE", async () => {
  const s = await setup();
  try {
    const sql = s.api.db.sql;
    // A key stored under another secret: this worker cannot decrypt it.
    await rotateSigningKey(sql, {
      secret: "a-different-secret-0123456789abcdef",
      tokenLifetimeMs: 300_000,
      compromised: true,
    });
    const { job } = await enqueueJob(sql, { queue: "hooks", kind: "k", maxAttempts: 5 });
    await waitFor(
      async () => (await getJob(sql, job.id))?.lastError?.code === "PUSH_TOKEN_UNAVAILABLE",
      {
        what: "the attempt failed with PUSH_TOKEN_UNAVAILABLE",
      },
    );
    equal((await getJob(sql, job.id))!.state, "retrying");
    equal(s.seen.length, 0);
  } finally {
    await s.close();
  }
});
