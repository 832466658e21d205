import { equal, match } from "node:assert/strict";
import { addIdentity } from "../../src/auth/identities.ts";
import { enqueueJob } from "../../src/queue/enqueue.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { httpDelivery } from "../../src/worker/http_delivery.ts";
import { Worker } from "../../src/worker/worker.ts";
import { createTestApi, type TestApi } from "../api/_app.ts";
import { callbackBody, type Received, startReceiver, Webhook } from "../delivery/_receiver.ts";
import { waitFor } from "../_helpers/wait.ts";
import { startIssuer } from "./_issuer.ts";

const SECRET = "whsec_" + btoa("callback-oidc-secret-0123456789ab");
const wh = new Webhook(SECRET);
const AUD = "sluice-callbacks";

/** An api with callback ID tokens on, `jobs` http jobs awaiting their callback. */
async function setup(env: Record<string, string>, jobs: number) {
  const issuer = await startIssuer();
  const api = await createTestApi({
    SLUICE_SIGNING_SECRETS: SECRET,
    SLUICE_OIDC_ISSUER: issuer.url,
    SLUICE_CALLBACK_OIDC_AUDIENCE: AUD,
    SLUICE_TRUSTED_PROXIES: "192.0.2.1/32",
    ...env,
  });
  const sql = api.db.sql;
  const receiver = startReceiver([wh], () => new Response(null, { status: 202 }));
  const worker = new Worker({
    sql,
    workerId: `cbi-${crypto.randomUUID().slice(0, 8)}`,
    queues: ["hooks"],
    concurrency: jobs,
    leaseMs: 5_000,
    pollMs: 50,
    shutdownGraceMs: 1_000,
    deliveries: { http: httpDelivery({ signingSecrets: [SECRET], deny: [] }) },
  });
  await createQueue(sql, "hooks", { delivery: { mode: "http", url: receiver.url } });
  await worker.start();
  const ids: string[] = [];
  for (let i = 0; i < jobs; i++) {
    ids.push((await enqueueJob(sql, { queue: "hooks", kind: "k", timeoutMs: 60_000 })).job.id);
  }
  await waitFor(async () => {
    for (const id of ids) {
      if ((await explainJob(sql, id)).explain.code !== "AWAITING_CALLBACK") return false;
    }
    return true;
  }, { what: "every job awaiting its callback" });
  const pushes = ids.map((id) => receiver.received.find((r) => r.headers["sluice-job-id"] === id)!);
  return {
    api,
    issuer,
    pushes,
    close: async () => {
      await worker.stop();
      await receiver.close();
      await api.close();
      await issuer.close();
    },
  };
}

let client = 1;

/** POST /v1/callbacks for a push, signed and/or with an ID token. */
async function callBack(
  api: TestApi,
  got: Received,
  { signed = true, bearer }: { signed?: boolean; bearer?: string },
) {
  const body = callbackBody(got);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-forwarded-for": `198.51.100.${client++}`,
  };
  if (signed) {
    const id = `cb_${crypto.randomUUID()}`;
    const at = new Date();
    Object.assign(headers, {
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": wh.sign(id, at, body),
    });
  }
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const res = await api.app.request("/v1/callbacks", { method: "POST", headers, body });
  const json = await res.json();
  return { status: res.status, code: json.error?.code as string | undefined };
}

const state = async (api: TestApi, got: Received) =>
  (await getJob(api.db.sql, got.headers["sluice-job-id"]!)).state;

Deno.test("callbacks in mode either: an ID token or the signature, and every proof presented must verify", async (t) => {
  const s = await setup({
    SLUICE_CALLBACK_OIDC_SUBJECTS: "cb-worker",
    SLUICE_CALLBACK_OIDC_EMAILS: "hooks@example.com",
  }, 3);
  const [a, b, c] = s.pushes as [Received, Received, Received];
  const token = (claims: Record<string, unknown> = {}) =>
    s.issuer.sign({ aud: AUD, sub: "cb-worker", ...claims });
  try {
    await t.step("a bad ID token is refused even beside a valid signature", async () => {
      const r = await callBack(s.api, a, { bearer: await token({ aud: "sluice-api" }) });
      equal(r.status, 401);
      equal(r.code, "AUDIENCE_MISMATCH");
      equal(await state(s.api, a), "running");
    });
    await t.step("a subject not listed, an unverified listed email", async () => {
      equal(
        (await callBack(s.api, a, { signed: false, bearer: await token({ sub: "other" }) })).code,
        "IDENTITY_NOT_ALLOWED",
      );
      const unverified = await token({
        sub: "other",
        email: "hooks@example.com",
        email_verified: false,
      });
      equal(
        (await callBack(s.api, a, { signed: false, bearer: unverified })).code,
        "EMAIL_NOT_VERIFIED",
      );
    });
    await t.step("no proof at all is refused", async () => {
      equal((await callBack(s.api, a, { signed: false })).code, "SIGNATURE_INVALID");
    });
    await t.step("an ID token alone completes the job", async () => {
      equal((await callBack(s.api, a, { signed: false, bearer: await token() })).status, 200);
      equal(await state(s.api, a), "succeeded");
    });
    await t.step("a verified listed email alone completes the job", async () => {
      const byEmail = await token({
        sub: "x",
        email: "Hooks@Example.com",
        email_verified: true,
      });
      equal((await callBack(s.api, b, { signed: false, bearer: byEmail })).status, 200);
    });
    await t.step("the signature alone completes the job", async () => {
      equal((await callBack(s.api, c, {})).status, 200);
      equal(await state(s.api, c), "succeeded");
    });
  } finally {
    await s.close();
  }
});

Deno.test("callbacks in mode both: the signature and an ID token of a worker identity", async (t) => {
  const s = await setup({ SLUICE_CALLBACK_OIDC_MODE: "both" }, 1);
  const [a] = s.pushes as [Received];
  const sql = s.api.db.sql;
  await addIdentity(sql, { issuer: s.issuer.url, subject: "cb-worker", scope: "worker" });
  await addIdentity(sql, { issuer: s.issuer.url, subject: "reader", scope: "read" });
  const token = (sub: string) => s.issuer.sign({ aud: AUD, sub });
  try {
    await t.step("the signature alone is refused", async () => {
      const r = await callBack(s.api, a, {});
      equal(r.status, 401);
      equal(r.code, "UNAUTHENTICATED");
    });
    await t.step("an ID token alone is refused", async () => {
      const r = await callBack(s.api, a, { signed: false, bearer: await token("cb-worker") });
      equal(r.code, "SIGNATURE_INVALID");
    });
    await t.step("an identity without worker or admin scope is refused", async () => {
      equal(
        (await callBack(s.api, a, { bearer: await token("reader") })).code,
        "IDENTITY_NOT_ALLOWED",
      );
      equal(await state(s.api, a), "running");
    });
    await t.step("both together complete the job", async () => {
      equal((await callBack(s.api, a, { bearer: await token("cb-worker") })).status, 200);
      equal(await state(s.api, a), "succeeded");
    });
    await t.step("refused callback ID tokens are counted", async () => {
      const prom = await (await s.api.app.request("/metrics/prom", {
        headers: { authorization: `Bearer ${s.api.tokens.admin}` },
      })).text();
      match(prom, /sluice_id_token_refusals_total\{use="callback",code="IDENTITY_NOT_ALLOWED"\} 1/);
    });
  } finally {
    await s.close();
  }
});
