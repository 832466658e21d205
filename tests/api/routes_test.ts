/**
 * The HTTP surface end to end through `app.request()`: jobs, queues, pull workers, the dead
 * letter queue and decisions. Each test starts from its own database and builds the state it
 * needs with the fixtures below, so any one of them runs alone and in any order.
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { type TestApi, withTestApi } from "./_app.ts";

/** The pull queue `ext` in the state the queues test leaves it: created, then patched. */
async function createPullQueue(api: TestApi) {
  const r = await api.call("POST", "/v1/queues", { body: EXT_QUEUE });
  equal(r.status, 201, JSON.stringify(r.body));
  const patched = await api.call("PATCH", "/v1/queues/ext", {
    body: { concurrency: 5, rateLimit: null },
  });
  equal(patched.status, 200, JSON.stringify(patched.body));
}

/** A pull queue in the policy shapes of DESIGN.md. */
const EXT_QUEUE = {
  name: "ext",
  delivery: { mode: "pull" },
  rateLimit: { count: 100, per: "1s" },
  backoff: { base: "2s", max: "1m" },
  timeout: "10s",
  maxQueueSize: null,
  maxAttempts: 2,
};

/** A job on `ext` failed over both its attempts by a pull worker: dead, DEAD_MAX_ATTEMPTS. */
async function failUntilDead(api: TestApi) {
  const e = await api.call("POST", "/v1/jobs", { body: { queue: "ext", kind: "boom" } });
  const id = e.body.job.id;
  const lease = async () =>
    (await api.call("POST", "/v1/queues/ext/lease", { as: "worker", body: {} })).body.jobs[0];
  const a1 = await lease();
  const f1 = await api.call("POST", `/v1/jobs/${id}/fail`, {
    as: "worker",
    body: {
      attempt: a1.attempt,
      leaseToken: a1.leaseToken,
      error: { message: "nope" },
      retryAfter: "0s",
    },
  });
  const a2 = await lease();
  const f2 = await api.call("POST", `/v1/jobs/${id}/fail`, {
    as: "worker",
    body: {
      attempt: 2,
      leaseToken: a2.leaseToken,
      error: { code: "E_BAD", message: "still no" },
    },
  });
  return { id, f1, a2, f2 };
}

Deno.test("enqueue answers 201, a repeated idempotency key 200 duplicate", async () => {
  await withTestApi(async (api) => {
    const body = {
      kind: "email.send",
      payload: { to: "a@b.c" },
      priority: 3,
      delay: "30s",
      maxAttempts: 2,
      timeout: "45s",
      idempotencyKey: "order-42",
      tags: ["tenant:7"],
    };
    const a = await api.call("POST", "/v1/jobs", { as: "producer", body });
    equal(a.status, 201);
    const job = a.body.job;
    equal(job.state, "scheduled");
    equal(job.timeout, "45s");
    equal(job.maxAttempts, 2);
    match(job.id);
    for (
      const k of ["runAt", "createdAt", "leaseExpiresAt", "lastError", "retryOf", "deadReason"]
    ) {
      assert(k in job, k);
    }
    assert(!("leaseToken" in job));
    const b = await api.call("POST", "/v1/jobs", { as: "producer", body });
    equal(b.status, 200);
    equal(b.body.duplicate, true);
    equal(b.body.job.id, job.id);
  });
});

Deno.test("list filters and paginates with a cursor", async () => {
  await withTestApi(async (api) => {
    // One scheduled job for the state filter, as enqueued with a delay.
    await api.call("POST", "/v1/jobs", { as: "producer", body: { kind: "later", delay: "30s" } });
    for (let i = 0; i < 3; i++) {
      await api.call("POST", "/v1/jobs", { body: { kind: "page", tags: ["p"] } });
    }
    const p1 = await api.call("GET", "/v1/jobs?kind=page&limit=2");
    equal(p1.body.jobs.length, 2);
    const p2 = await api.call("GET", `/v1/jobs?kind=page&limit=2&before=${p1.body.nextCursor}`);
    equal(p2.body.jobs.length, 1);
    equal(p2.body.nextCursor, null);
    equal(
      (await api.call("GET", "/v1/jobs?state=scheduled", { as: "read" })).body.jobs.length,
      1,
    );
    equal((await api.call("GET", "/v1/jobs?tag=p")).body.jobs.length, 3);
  });
});

Deno.test("queues: create with DESIGN shapes, get, patch, list with counts", async () => {
  await withTestApi(async (api) => {
    const r = await api.call("POST", "/v1/queues", { body: EXT_QUEUE });
    equal(r.status, 201, JSON.stringify(r.body));
    deepStrictEqual(r.body.queue.rateLimit, { count: 100, per: "1s" });
    deepStrictEqual(r.body.queue.backoff, { base: "2s", max: "1m" });
    equal(r.body.queue.timeout, "10s");
    equal(r.body.queue.maxQueueSize, null);
    equal(r.body.queue.maxPayloadBytes, api.ctx.defaults.maxPayloadBytes, "env default");
    deepStrictEqual(r.body.queue.delivery, { mode: "pull" });
    equal(
      (await api.call("POST", "/v1/queues", { body: { name: "ext" } })).body.error.code,
      "QUEUE_EXISTS",
    );
    equal((await api.call("POST", "/v1/queues", { body: { name: "Bad!" } })).status, 400);
    equal(
      (await api.call("POST", "/v1/queues", { body: { name: "x", delivery: { mode: "exec" } } }))
        .status,
      400,
    );
    equal(
      (await api.call("POST", "/v1/queues", { body: { name: "x", timeout: "1 week" } })).status,
      400,
    );
    const patched = await api.call("PATCH", "/v1/queues/ext", {
      body: { concurrency: 5, rateLimit: null },
    });
    equal(patched.body.queue.concurrency, 5);
    equal(patched.body.queue.rateLimit, null);
    equal((await api.call("PATCH", "/v1/queues/nope", { body: {} })).status, 404);
    await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { queue: "ext", kind: "resize" },
    });
    const list = await api.call("GET", "/v1/queues", { as: "worker" });
    const ext = list.body.queues.find((q: { name: string }) => q.name === "ext");
    equal(ext.counts.available, 1);
    const one = await api.call("GET", "/v1/queues/ext", { as: "read" });
    equal(one.body.counts.available, 1);
    equal((await api.call("GET", "/v1/queues/nope")).body.error.code, "QUEUE_NOT_FOUND");
  });
});

Deno.test("pull: lease, heartbeat, complete; a stale fence answers 409", async () => {
  await withTestApi(async (api) => {
    await createPullQueue(api);
    const e = await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { queue: "ext", kind: "resize" },
    });
    const pulled = e.body.job.id;
    const notPull = await api.call("POST", "/v1/queues/default/lease", {
      as: "worker",
      body: {},
    });
    equal(notPull.status, 409);
    const l = await api.call("POST", "/v1/queues/ext/lease", {
      as: "worker",
      body: { max: 5, leaseSeconds: 60 },
    });
    equal(l.status, 200);
    equal(l.body.jobs.length, 1);
    const j = l.body.jobs[0];
    equal(j.id, pulled);
    equal(j.attempt, 1);
    equal(typeof j.leaseToken, "string");
    equal(j.timeout, "10s");
    const fence = { attempt: j.attempt, leaseToken: j.leaseToken };
    const hb = await api.call("POST", `/v1/jobs/${j.id}/heartbeat`, {
      as: "worker",
      body: fence,
    });
    deepStrictEqual(hb.body, { ok: true, cancelRequested: false });
    const stale = await api.call("POST", `/v1/jobs/${j.id}/complete`, {
      as: "worker",
      body: { attempt: 1, leaseToken: "A".repeat(43) },
    });
    equal(stale.status, 409);
    equal(stale.body.error.code, "STALE_LEASE");
    const done = await api.call("POST", `/v1/jobs/${j.id}/complete`, {
      as: "worker",
      body: { ...fence, result: { ok: 1 } },
    });
    equal(done.status, 200);
    equal(done.body.job.state, "succeeded");
    deepStrictEqual(done.body.job.result, { ok: 1 });
    equal(
      (await api.call("POST", `/v1/jobs/${j.id}/complete`, { as: "worker", body: fence })).status,
      409,
    );
    equal(
      (await api.call("POST", `/v1/jobs/${j.id}/heartbeat`, { as: "worker", body: fence }))
        .status,
      409,
    );
    equal(
      (await api.call("POST", "/v1/queues/ext/lease", { as: "worker", body: {} })).body.jobs
        .length,
      0,
    );
    const bad = await api.call("POST", `/v1/jobs/${j.id}/complete`, {
      as: "worker",
      body: { attempt: 1, leaseToken: "x" },
    });
    equal(bad.status, 400);
  });
});

Deno.test("pull: fail retries, then dead; retry/replay/cancel rules", async () => {
  await withTestApi(async (api) => {
    await createPullQueue(api);
    const { id, f1, a2, f2 } = await failUntilDead(api);
    equal(f1.body.state, "available");
    equal(a2.attempt, 2);
    equal(f2.body.state, "dead");
    equal(f2.body.deadReason, "DEAD_MAX_ATTEMPTS");
    const explain = await api.call("GET", `/v1/jobs/${id}/explain`, { as: "read" });
    equal(explain.body.code, "DEAD_MAX_ATTEMPTS");
    assert(explain.body.sentence.length > 10);
    const tl = await api.call("GET", `/v1/jobs/${id}/timeline`);
    assert(tl.body.timeline.some((x: { event: string }) => x.event === "dead"));
    equal((await api.call("POST", `/v1/jobs/${id}/cancel`)).body.error.code, "NOT_CANCELLABLE");
    const fresh = await api.call("POST", "/v1/jobs", { body: { kind: "k" } });
    const nr = await api.call("POST", `/v1/jobs/${fresh.body.job.id}/retry`);
    equal(nr.status, 409);
    equal(nr.body.error.code, "NOT_RETRYABLE");
    const c = await api.call("POST", `/v1/jobs/${fresh.body.job.id}/cancel`);
    equal(c.body.job.state, "cancelled");
    const rt = await api.call("POST", `/v1/jobs/${fresh.body.job.id}/retry`);
    equal(rt.status, 201);
    equal(rt.body.job.retryOf, fresh.body.job.id);
    const rp = await api.call("POST", `/v1/jobs/${rt.body.job.id}/replay`);
    equal(rp.status, 409, "replay needs a finished job");
  });
});

Deno.test("dlq: list with counts by reason, replay by filter then by ids", async () => {
  await withTestApi(async (api) => {
    await createPullQueue(api);
    const { id: deadId } = await failUntilDead(api);
    const d = await api.call("GET", "/v1/dlq?queue=ext", { as: "read" });
    equal(d.status, 200);
    deepStrictEqual(d.body.jobs.map((j: { id: string }) => j.id), [deadId]);
    deepStrictEqual(d.body.counts, { DEAD_MAX_ATTEMPTS: 1 });
    equal((await api.call("GET", "/v1/dlq?reason=DEAD_PERMANENT_ERROR")).body.jobs.length, 0);
    equal((await api.call("GET", "/v1/dlq?since=yesterday")).status, 400);
    const groups = async () =>
      (await api.call("GET", "/v1/dlq/groups?queue=ext", { as: "read" })).body.groups.map(
        (g: { reason: string; count: number; unreplayed: number }) => [
          g.reason,
          g.count,
          g.unreplayed,
        ],
      );
    deepStrictEqual(await groups(), [["DEAD_MAX_ATTEMPTS", 1, 1]]);
    const r = await api.call("POST", "/v1/dlq/replay", { body: { queue: "ext" } });
    equal(r.status, 200);
    deepStrictEqual(await groups(), [["DEAD_MAX_ATTEMPTS", 1, 0]], "the replayed job is counted");
    equal(r.body.count, 1);
    equal(r.body.replayed[0].jobId, deadId);
    equal(r.body.replayed[0].reason, "DEAD_MAX_ATTEMPTS", "the dead job's reason, not null");
    equal(r.body.more, false);
    equal(
      (await api.call("POST", "/v1/dlq/replay", { body: { queue: "ext" } })).body.count,
      0,
      "filter skips replayed",
    );
    equal((await api.call("POST", "/v1/dlq/replay", { body: { ids: [deadId] } })).body.count, 1);
    equal(
      (await api.call("POST", "/v1/dlq/replay", { body: { ids: [deadId], queue: "ext" } }))
        .status,
      400,
    );
    equal((await api.call("POST", "/v1/dlq/replay", { as: "read", body: {} })).status, 403);
  });
});

Deno.test("queues: pause, resume, drain", async () => {
  await withTestApi(async (api) => {
    await createPullQueue(api);
    // Two waiting jobs: draining waits for the leased one only, not for those still queued.
    for (const kind of ["a", "b"]) {
      await api.call("POST", "/v1/jobs", { body: { queue: "ext", kind } });
    }
    equal((await api.call("POST", "/v1/queues/ext/pause")).body.queue.paused, true);
    equal((await api.call("POST", "/v1/queues/ext/resume")).body.queue.paused, false);
    const l = await api.call("POST", "/v1/queues/ext/lease", { as: "worker", body: {} });
    equal(l.body.jobs.length, 1);
    const d1 = await api.call("POST", "/v1/queues/ext/drain");
    equal(d1.body.queue.paused, true);
    equal(d1.body.drained, false);
    equal(d1.body.counts.running, 1);
    const j = l.body.jobs[0];
    await api.call("POST", `/v1/jobs/${j.id}/complete`, {
      as: "worker",
      body: { attempt: j.attempt, leaseToken: j.leaseToken },
    });
    equal((await api.call("POST", "/v1/queues/ext/drain")).body.drained, true);
    equal((await api.call("POST", "/v1/queues/nope/pause")).status, 404);
  });
});

Deno.test("workers list: the pull worker that leased", async () => {
  await withTestApi(async (api) => {
    await createPullQueue(api);
    // One lease by a pull worker token is what makes the worker known.
    await api.call("POST", "/v1/queues/ext/lease", { as: "worker", body: {} });
    const r = await api.call("GET", "/v1/workers", { as: "read" });
    equal(r.status, 200);
    deepStrictEqual(
      r.body.workers.map((w: { id: string; kind: string }) => [w.id, w.kind]),
      [["pull:t-worker", "pull"]],
    );
  });
});

function match(id: unknown) {
  assert(typeof id === "string" && /^[0-9]+$/.test(id), `id ${id}`);
}
