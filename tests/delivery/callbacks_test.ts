import { equal, notEqual, ok as assert } from "node:assert/strict";
import { handleCallback } from "../../src/delivery/callback_handler.ts";
import { enqueueJob } from "../../src/queue/enqueue.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { reapExpiredLeases } from "../../src/queue/rescue.ts";
import { httpDelivery } from "../../src/worker/http_delivery.ts";
import { Worker } from "../../src/worker/worker.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { type Received, signedCallback, startReceiver, Webhook } from "./_receiver.ts";

const SECRET = "whsec_" + btoa("callback-secret-0123456789abcdef");
const wh = new Webhook(SECRET);

function worker(sql: Sql): Worker {
  return new Worker({
    sql,
    workerId: `cb-${crypto.randomUUID().slice(0, 8)}`,
    queues: ["hooks"],
    concurrency: 5,
    leaseMs: 5_000,
    pollMs: 50,
    shutdownGraceMs: 1_000,
    deliveries: { http: httpDelivery({ signingSecrets: [SECRET], deny: [] }) },
  });
}

/** An http queue to `url` served by `w`, one job enqueued, and the callback handler's deps. */
async function startHooks(sql: Sql, w: Worker, url: string) {
  await createQueue(sql, "hooks", { delivery: { mode: "http", url } });
  await w.start();
  const { job } = await enqueueJob(sql, { queue: "hooks", kind: "k", timeoutMs: 60_000 });
  return { deps: { sql, signingSecrets: [SECRET], toleranceMs: 300_000 }, job };
}

/** What a receiver sends back: the job named by the push headers, signed with the library. */
function callback(
  got: Received,
  over: Record<string, unknown> = {},
  { at = new Date(), secret = wh }: { at?: Date; secret?: Webhook } = {},
) {
  return signedCallback(got, secret, over, at);
}

Deno.test("202 then a signed callback completes the job; replays, stale and forged callbacks change nothing", async (t) => {
  await withTestDatabase(async (db) => {
    const r = startReceiver([wh], () => new Response(null, { status: 202 }));
    const w = worker(db.sql);
    try {
      const { deps, job } = await startHooks(db.sql, w, r.url);
      const { job: other } = await enqueueJob(db.sql, { queue: "hooks", kind: "k" });
      await waitFor(
        async () =>
          (await explainJob(db.sql, job.id)).explain.code === "AWAITING_CALLBACK" &&
          (await explainJob(db.sql, other.id)).explain.code === "AWAITING_CALLBACK",
        {
          what: "both jobs awaiting their callback",
        },
      );
      const got = r.received.find((x) => x.headers["sluice-job-id"] === job.id)!;
      const first = callback(got);

      await t.step("bad signature is 401 SIGNATURE_INVALID", async () => {
        const forged = callback(got, {}, {
          secret: new Webhook("whsec_" + btoa("not-the-right-secret-0123456789")),
        });
        const res = await handleCallback(deps, forged.body, forged.headers);
        equal(res.status, 401);
        equal("error" in res.body && res.body.error.code, "SIGNATURE_INVALID");
        const tampered = await handleCallback(
          deps,
          first.body.replace("true", "false"),
          first.headers,
        );
        equal(tampered.status, 401);
      });

      await t.step("a timestamp outside the tolerance is 401, either way", async () => {
        for (const skew of [-600_000, 600_000]) {
          const skewed = callback(got, {}, { at: new Date(Date.now() + skew) });
          const res = await handleCallback(deps, skewed.body, skewed.headers);
          equal(res.status, 401);
          equal("error" in res.body && res.body.error.code, "TIMESTAMP_OUT_OF_TOLERANCE");
        }
      });

      await t.step("a callback for another attempt is 409 STALE_LEASE", async () => {
        const stale = callback(got, { attempt: 2 });
        const res = await handleCallback(deps, stale.body, new Headers(stale.headers));
        equal(res.status, 409);
        equal("error" in res.body && res.body.error.code, "STALE_LEASE");
        const wrongToken = callback(got, { leaseToken: "9876543219876543210" });
        equal((await handleCallback(deps, wrongToken.body, wrongToken.headers)).status, 409);
        equal((await getJob(db.sql, job.id)).state, "running");
      });

      await t.step(
        "the signing secret alone finishes no other job: the token binds the push",
        async () => {
          // Receiver of `job` names `other` (also awaiting): its token is not `other`'s.
          const g = r.received.find((x) => x.headers["sluice-job-id"] === other.id)!;
          const theft = callback(got, { jobId: other.id, attempt: 1 });
          const res = await handleCallback(deps, theft.body, theft.headers);
          equal(res.status, 409);
          equal("error" in res.body && res.body.error.code, "STALE_LEASE");
          // Nor does the guessable fencing number, which the push also carries.
          const byNumber = callback(g, { leaseToken: g.headers["sluice-fencing-token"] });
          equal((await handleCallback(deps, byNumber.body, byNumber.headers)).status, 400);
          equal((await getJob(db.sql, other.id)).state, "running");
          assert(/^[A-Za-z0-9_-]{43}$/.test(got.headers["sluice-lease-token"]!));
          assert(/^[0-9]+$/.test(got.headers["sluice-fencing-token"]!));
          notEqual(got.headers["sluice-lease-token"], g.headers["sluice-lease-token"]);
        },
      );

      await t.step("the signed callback completes the job with its result", async () => {
        const res = await handleCallback(deps, first.body, first.headers);
        equal(res.status, 200, JSON.stringify(res.body));
        const j = await getJob(db.sql, job.id);
        equal(j.state, "succeeded");
        equal(JSON.stringify(j.result), '{"done":true}');
      });

      await t.step("the same eventId again is 409 CALLBACK_REPLAYED", async () => {
        const res = await handleCallback(deps, first.body, first.headers);
        equal(res.status, 409);
        equal("error" in res.body && res.body.error.code, "CALLBACK_REPLAYED");
      });

      await t.step("a failed callback retries or dead-letters per its error", async () => {
        const g = r.received.find((x) => x.headers["sluice-job-id"] === other.id)!;
        const fail = callback(g, {
          status: "failed",
          error: { code: "CARD_DECLINED", message: "declined", retryable: false },
        });
        equal((await handleCallback(deps, fail.body, fail.headers)).status, 200);
        const j = await getJob(db.sql, other.id);
        equal(j.state, "dead");
        equal(j.deadReason, "DEAD_PERMANENT_ERROR");
        equal(j.lastError?.code, "CARD_DECLINED");
      });
      const [{ n }] = await db.sql<[{ n: number }]>`
        SELECT count(*)::int AS n FROM sluice.callback_events`;
      equal(n, 2, "only applied callbacks are recorded");
    } finally {
      await w.stop();
      await r.close();
    }
  });
});

Deno.test("a 202 job without a callback fails as CALLBACK_TIMEOUT at its deadline and retries", async () => {
  await withTestDatabase(async (db) => {
    const r = startReceiver([wh], () => new Response(null, { status: 202 }));
    const w = worker(db.sql);
    try {
      await createQueue(db.sql, "hooks", { delivery: { mode: "http", url: r.url } });
      await w.start();
      const { job } = await enqueueJob(db.sql, {
        queue: "hooks",
        kind: "k",
        timeoutMs: 300,
        maxAttempts: 2,
      });
      await waitFor(async () =>
        (await explainJob(db.sql, job.id)).explain.code === "AWAITING_CALLBACK"
      );
      // The worker does not heartbeat it, and its lease ends at the attempt's deadline.
      const j = await getJob(db.sql, job.id);
      assert(Date.parse(j.leaseExpiresAt!) - Date.parse(j.startedAt!) < 1_000, j.leaseExpiresAt!);
      await waitFor(async () => (await reapExpiredLeases(db.sql)).reaped === 1, {
        what: "the reaper to take the job",
      });
      const after = await waitFor(async () => {
        const x = await getJob(db.sql, job.id);
        return x.errors.length === 1 ? x : null;
      });
      equal(after.errors[0]!.code, "CALLBACK_TIMEOUT");
      // The second (last) attempt also gets no callback: dead as a timeout.
      await waitFor(async () => (await getJob(db.sql, job.id)).attempt === 2);
      await waitFor(async () => (await reapExpiredLeases(db.sql)).reaped === 1);
      const dead = await getJob(db.sql, job.id);
      equal(dead.state, "dead");
      equal(dead.deadReason, "DEAD_TIMEOUT");
      equal(r.received.length, 2);
    } finally {
      await w.stop();
      await r.close();
    }
  });
});

Deno.test("a callback before the 202, or after the attempt's deadline, changes nothing", async (t) => {
  await withTestDatabase(async (db) => {
    const answer = Promise.withResolvers<Response>();
    const arrived = Promise.withResolvers<Received>();
    const r = startReceiver([wh], (got) => {
      arrived.resolve(got);
      return answer.promise;
    });
    const w = worker(db.sql);
    try {
      const { deps, job } = await startHooks(db.sql, w, r.url);
      const got = await arrived.promise;

      await t.step("while the push is unanswered: 409 CALLBACK_NOT_AWAITED", async () => {
        const early = callback(got);
        const res = await handleCallback(deps, early.body, early.headers);
        equal(res.status, 409, JSON.stringify(res.body));
        equal("error" in res.body && res.body.error.code, "CALLBACK_NOT_AWAITED");
        equal((await getJob(db.sql, job.id)).state, "running");
      });

      await t.step("once its deadline passed (reaper not yet run): 409 STALE_LEASE", async () => {
        answer.resolve(new Response(null, { status: 202 }));
        await waitFor(async () =>
          (await explainJob(db.sql, job.id)).explain.code === "AWAITING_CALLBACK"
        );
        // As if the attempt's deadline went by: only PostgreSQL's clock decides.
        await db.sql`
          UPDATE sluice.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ${job.id}`;
        const late = callback(got);
        const res = await handleCallback(deps, late.body, late.headers);
        equal(res.status, 409);
        equal("error" in res.body && res.body.error.code, "STALE_LEASE");
        const j = await getJob(db.sql, job.id);
        equal(j.state, "running");
        equal(j.result, null);
      });
    } finally {
      answer.resolve(new Response(null, { status: 202 }));
      await w.stop();
      await r.close();
    }
  });
});
