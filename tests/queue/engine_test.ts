import { deepStrictEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import { cancelJob } from "../../src/queue/cancel.ts";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { getJob, jobTimeline, listJobs } from "../../src/queue/inspect.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import {
  completeJob,
  completeJobs,
  failJob,
  heartbeatJobs,
  releaseJobs,
} from "../../src/queue/outcome.ts";
import { promoteDueJobs } from "../../src/queue/promote.ts";
import { createQueue, setQueuePaused, updateQueuePolicy } from "../../src/queue/queues.ts";
import { replayJob, retryJob } from "../../src/queue/replay.ts";
import { reapExpiredLeases } from "../../src/queue/rescue.ts";
import { registerWorker } from "../../src/queue/workers.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";

const lease = (sql: Sql, queue = "default", max = 10, leaseMs = 30_000, workerId = "w1") =>
  leaseJobs(sql, { queue, workerId, max, leaseMs });

async function count(sql: Sql, where = sql`true`): Promise<number> {
  const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sluice.jobs WHERE ${where}`;
  return r!.n;
}

/** A reaper clock `ms` past now, past every short lease a test takes, so no test sleeps. */
const later = (ms = 60_000) => new Date(Date.now() + ms);

async function expectCode(p: Promise<unknown>, code: string) {
  await rejects(p, (e) => {
    assert(isSluiceError(e), `expected a SluiceError, got ${e}`);
    equal(e.code, code);
    return true;
  });
}

Deno.test("enqueueJobs() validates everything before writing anything", async (t) => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const cases: [string, Parameters<typeof enqueueJob>[1], string][] = [
      ["bad queue name", { queue: "Bad Queue", kind: "k" }, "INVALID_QUEUE_NAME"],
      ["unknown queue", { queue: "nope", kind: "k" }, "QUEUE_NOT_FOUND"],
      ["empty kind", { kind: "" }, "INVALID_KIND"],
      ["control char in kind", { kind: "a\nb" }, "INVALID_KIND"],
      ["scalar payload", { kind: "k", payload: 5 }, "VALIDATION_FAILED"],
      ["NUL in payload", { kind: "k", payload: { s: "a\u0000b" } }, "VALIDATION_FAILED"],
      ["runAt without zone", { kind: "k", runAt: "2030-01-01T00:00:00" }, "VALIDATION_FAILED"],
      ["negative delay", { kind: "k", delayMs: -1 }, "VALIDATION_FAILED"],
      ["absurd delay", { kind: "k", delayMs: 1e15 }, "VALIDATION_FAILED"],
      [
        "both runAt and delay",
        { kind: "k", delayMs: 5, runAt: "2030-01-01T00:00:00Z" },
        "VALIDATION_FAILED",
      ],
      ["priority out of range", { kind: "k", priority: 40000 }, "VALIDATION_FAILED"],
      ["zero attempts", { kind: "k", maxAttempts: 0 }, "VALIDATION_FAILED"],
    ];
    for (const [name, input, code] of cases) {
      await t.step(name, async () => {
        await expectCode(enqueueJobs(sql, [{ kind: "fine" }, input]), code);
      });
    }
    equal(await count(sql), 0);
  });
});

Deno.test("enqueueJobs() stores payloads byte-exact, including SQL metacharacters and unicode", async () => {
  await withTestDatabase(async (db) => {
    const payload = {
      s: "'; DROP TABLE sluice.jobs; --",
      u: "zażółć 🐟 \u2028 ñ",
      n: [1, 2.5, null],
    };
    // Tags travel as text[] literals (src/queue/enqueue.ts): quoting must survive every one of
    // the literal's metacharacters.
    const tags = ["tenant:'7'", 'a"b', "c\\d", "{e,f}", "NULL", " g ", "h\\"];
    const { job } = await enqueueJob(db.sql, { kind: "k'\"", payload, tags });
    const back = await getJob(db.sql, job.id);
    deepStrictEqual(back.payload, payload);
    equal(back.kind, "k'\"");
    deepStrictEqual(back.tags, tags);
    deepStrictEqual(job.tags, tags);
    equal(back.state, "available");
  });
});

Deno.test("enqueueJobs() inserts a batch of 10,000 in one statement, in input order", async () => {
  await withTestDatabase(async (db) => {
    const inputs = Array.from(
      { length: 10_000 },
      (_, i) => ({ kind: "sluice.noop", payload: { i } }),
    );
    const results = await enqueueJobs(db.sql, inputs);
    equal(results.length, 10_000);
    results.forEach((r, i) => deepStrictEqual(r.job.payload, { i }));
    equal(await count(db.sql), 10_000);
    await expectCode(
      enqueueJobs(db.sql, inputs.concat([{ kind: "x", payload: { i: -1 } }])),
      "BATCH_TOO_LARGE",
    );
  });
});

Deno.test("enqueueJob() with an idempotency key returns the unfinished first job as a duplicate", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const a = await enqueueJob(sql, { kind: "k", idempotencyKey: "order-42" });
    const b = await enqueueJob(sql, { kind: "k", idempotencyKey: "order-42" });
    equal(a.duplicate, false);
    equal(b.duplicate, true);
    equal(b.job.id, a.job.id);
    // Within one batch too, and mixed with fresh rows in the right positions.
    const batch = await enqueueJobs(sql, [
      { kind: "k", idempotencyKey: "order-42" },
      { kind: "k", payload: { n: 1 } },
      { kind: "k", idempotencyKey: "order-43" },
      { kind: "k", idempotencyKey: "order-43" },
    ]);
    deepStrictEqual(batch.map((r) => r.duplicate), [true, false, false, true]);
    equal(batch[0]!.job.id, a.job.id);
    deepStrictEqual(batch[1]!.job.payload, { n: 1 });
    equal(batch[3]!.job.id, batch[2]!.job.id);
    // Once the first one finished, the key is free again.
    const [leased] = await lease(sql, "default", 1);
    equal(leased!.id, a.job.id);
    await completeJob(sql, leased!);
    const c = await enqueueJob(sql, { kind: "k", idempotencyKey: "order-42" });
    equal(c.duplicate, false);
    assert(c.job.id !== a.job.id);
  });
});

Deno.test("enqueueJob() inside the caller's transaction rolls back with it", async () => {
  await withTestDatabase(async (db) => {
    await rejects(db.sql.begin(async (tx) => {
      await enqueueJob(tx, { kind: "k" });
      throw new Error("caller failed");
    }));
    equal(await count(db.sql), 0);
    await db.sql.begin((tx) => enqueueJob(tx, { kind: "k" }));
    equal(await count(db.sql), 1);
  });
});

Deno.test("leaseJobs() hands out by priority, then run_at, then id, and skips paused queues", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const [low, high, mid] = await enqueueJobs(sql, [
      { kind: "k", priority: 0 },
      { kind: "k", priority: 10 },
      { kind: "k", priority: 5 },
    ]);
    await setQueuePaused(sql, "default", true);
    deepStrictEqual(await lease(sql), []);
    await setQueuePaused(sql, "default", false);
    const jobs = await lease(sql, "default", 2);
    deepStrictEqual(jobs.map((j) => j.id), [high!.job.id, mid!.job.id]);
    equal(jobs[0]!.attempt, 1);
    const [last] = await lease(sql);
    equal(last!.id, low!.job.id);
    assert(BigInt(last!.fencingToken) > BigInt(jobs[1]!.fencingToken), "fencing numbers grow");
  });
});

Deno.test("leaseJobs() from two concurrent workers never hands out the same attempt", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await enqueueJobs(sql, Array.from({ length: 2_000 }, () => ({ kind: "k" })));
    const seen = new Map<string, string>();
    const worker = async (name: string) => {
      for (;;) {
        const jobs = await lease(sql, "default", 7, 30_000, name);
        if (jobs.length === 0) return;
        for (const j of jobs) {
          assert(!seen.has(j.id), `job ${j.id} leased by ${seen.get(j.id)} and ${name}`);
          seen.set(j.id, name);
        }
        await completeJobs(sql, jobs);
      }
    };
    await Promise.all(["a", "b", "c", "d"].map(worker));
    equal(seen.size, 2_000);
    equal(await count(sql, sql`state = 'succeeded'`), 2_000);
  }, { max: 10 });
});

Deno.test("completeJob() with a stale fence is refused and changes nothing", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await enqueueJob(sql, { kind: "k" });
    const [first] = await lease(sql, "default", 1, 1);
    equal((await reapExpiredLeases(sql, { now: later() })).reaped, 1);
    const [second] = await lease(sql, "default", 1);
    equal(second!.attempt, 2);
    await expectCode(completeJob(sql, first!), "STALE_LEASE");
    await expectCode(failJob(sql, first!, { code: "X", message: "late" }, 0), "STALE_LEASE");
    await expectCode(
      completeJob(sql, { ...second!, leaseToken: first!.leaseToken }),
      "STALE_LEASE",
    );
    equal((await heartbeatJobs(sql, [first!], 1000)).alive.size, 0);
    await completeJob(sql, second!);
    const job = await getJob(sql, second!.id);
    equal(job.state, "succeeded");
    equal(job.errors.length, 1);
    equal(job.errors[0]!.code, "LEASE_EXPIRED");
  });
});

Deno.test("failJob() retries with backoff, then dead-letters with every attempt's error", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const { job } = await enqueueJob(sql, { kind: "k", maxAttempts: 2 });
    const [a1] = await lease(sql);
    const r1 = await failJob(sql, a1!, { code: "BOOM", message: "first", workerId: "w1" }, 60_000);
    equal(r1.state, "retrying");
    equal((await explainJob(sql, job.id)).explain.code, "WAITING_FOR_BACKOFF");
    deepStrictEqual(await lease(sql), [], "a retrying job is not leased before its time");
    await sql`UPDATE sluice.jobs SET run_at = now() - interval '1 second' WHERE id = ${job.id}`;
    equal((await promoteDueJobs(sql)).promoted, 1);
    const [a2] = await lease(sql);
    equal(a2!.attempt, 2);
    const r2 = await failJob(sql, a2!, { code: "BOOM", message: "second" }, 0);
    equal(r2.state, "dead");
    equal(r2.deadReason, "DEAD_MAX_ATTEMPTS");
    const dead = await getJob(sql, job.id);
    deepStrictEqual(dead.errors.map((e) => [e.attempt, e.message]), [[1, "first"], [2, "second"]]);
    const ex = await explainJob(sql, job.id);
    equal(ex.explain.code, "DEAD_MAX_ATTEMPTS");
    assert(ex.explain.sentence.includes("second"));

    const { job: p } = await enqueueJob(sql, { kind: "k", maxAttempts: 5 });
    const [pa] = await lease(sql);
    equal(
      (await failJob(sql, pa!, { code: "BAD", message: "no", retryable: false }, 0)).deadReason,
      "DEAD_PERMANENT_ERROR",
    );
    const { job: tmo } = await enqueueJob(sql, { kind: "k", maxAttempts: 1 });
    const [ta] = await lease(sql);
    equal(
      (await failJob(sql, ta!, { code: "TIMEOUT", message: "slow" }, 0)).deadReason,
      "DEAD_TIMEOUT",
    );
    equal((await getJob(sql, p.id)).state, "dead");
    equal((await explainJob(sql, tmo.id)).explain.code, "DEAD_TIMEOUT");
  });
});

Deno.test("reapExpiredLeases() returns expired jobs, or dead-letters them on their last attempt", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const [again, last] = await enqueueJobs(sql, [{ kind: "k", maxAttempts: 3 }, {
      kind: "k",
      maxAttempts: 1,
    }]);
    // A long lease and an injected reaper clock: "before expiry" holds however slow the
    // machine is, and "after" needs no sleep.
    await lease(sql, "default", 10, 60_000);
    equal((await reapExpiredLeases(sql)).reaped, 0, "nothing before expiry");
    deepStrictEqual(await reapExpiredLeases(sql, { now: later(120_000) }), { reaped: 2, dead: 1 });
    equal((await getJob(sql, again!.job.id)).state, "available");
    const d = await getJob(sql, last!.job.id);
    equal(d.state, "dead");
    equal(d.deadReason, "DEAD_LEASE_EXPIRED");
  });
});

Deno.test("completeJobs() racing the reaper never reverts a success", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    for (let round = 0; round < 20; round++) {
      await enqueueJobs(sql, Array.from({ length: 50 }, () => ({ kind: "k", maxAttempts: 5 })));
      const jobs = await lease(sql, "default", 50, 5);
      // The reaper sees every lease as expired (its clock injected) while the completion runs.
      const [done] = await Promise.all([
        completeJobs(sql, jobs),
        reapExpiredLeases(sql, { now: later() }),
      ]);
      const rows = await sql<{ id: string; state: string }[]>`
        SELECT id::text, state FROM sluice.jobs WHERE id = ANY(${jobs.map((j) => j.id)})`;
      for (const r of rows) {
        if (done.has(r.id)) equal(r.state, "succeeded", `job ${r.id} completed but is ${r.state}`);
        else equal(r.state, "available");
      }
      await sql`UPDATE sluice.jobs SET state = 'cancelled' WHERE state = 'available'`;
    }
  }, { max: 6 });
});

Deno.test("scheduled jobs wait for run_at and are promoted when due", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const { job } = await enqueueJob(sql, { kind: "k", delayMs: 60_000 });
    equal(job.state, "scheduled");
    equal((await explainJob(sql, job.id)).explain.code, "SCHEDULED_FOR_LATER");
    deepStrictEqual(await lease(sql), []);
    equal((await promoteDueJobs(sql)).promoted, 0);
    await sql`UPDATE sluice.jobs SET run_at = now() WHERE id = ${job.id}`;
    equal((await promoteDueJobs(sql)).promoted, 1);
    equal((await lease(sql)).length, 1);
  });
});

Deno.test("cancelJob() ends waiting jobs and marks running ones", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const [a, b] = await enqueueJobs(sql, [{ kind: "k", priority: 1 }, { kind: "k" }]);
    const [running] = await lease(sql, "default", 1);
    equal(running!.id, a!.job.id);
    const c1 = await cancelJob(sql, b!.job.id);
    equal(c1.state, "cancelled");
    const c2 = await cancelJob(sql, a!.job.id);
    equal(c2.state, "running");
    equal(c2.cancelRequested, true);
    const hb = await heartbeatJobs(sql, [running!], 30_000);
    assert(hb.cancelRequested.has(a!.job.id));
    await expectCode(cancelJob(sql, b!.job.id), "NOT_CANCELLABLE");
    await expectCode(cancelJob(sql, "999999"), "JOB_NOT_FOUND");
  });
});

Deno.test("retryJob() and replayJob() create a linked new job and leave the original untouched", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const { job } = await enqueueJob(sql, { kind: "k", payload: { x: 1 }, maxAttempts: 1 });
    await expectCode(retryJob(sql, job.id), "NOT_RETRYABLE");
    const [a] = await lease(sql);
    await failJob(sql, a!, { code: "E", message: "bad" }, 0);
    const before = await getJob(sql, job.id);
    const again = await retryJob(sql, job.id, { createdBy: "ops" });
    equal(again.retryOf, job.id);
    equal(again.state, "available");
    equal(again.attempt, 0);
    deepStrictEqual(again.payload, { x: 1 });
    deepStrictEqual(await getJob(sql, job.id), before);
    const { timeline } = await jobTimeline(sql, job.id);
    deepStrictEqual(timeline.map((e) => e.event), [
      "enqueued",
      "leased",
      "failed",
      "dead",
      "replayed",
    ]);
    equal(timeline.at(-1)!.detail.newJobId, again.id);
    const [r] = await lease(sql);
    await completeJob(sql, r!);
    const replayed = await replayJob(sql, again.id);
    equal(replayed.retryOf, again.id);
    await expectCode(retryJob(sql, again.id), "NOT_RETRYABLE");
    deepStrictEqual((await listJobs(sql, { retryOf: job.id })).jobs.map((j) => j.id), [again.id]);
  });
});

Deno.test("releaseJobs() gives the attempt back without counting it", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await enqueueJob(sql, { kind: "k" });
    const [a] = await lease(sql);
    equal((await releaseJobs(sql, [a!])).size, 1);
    const [b] = await lease(sql);
    equal(b!.attempt, 1);
    assert(BigInt(b!.fencingToken) > BigInt(a!.fencingToken));
    assert(b!.leaseToken !== a!.leaseToken);
  });
});

Deno.test("listJobs() filters and paginates with a cursor", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await createQueue(sql, "emails");
    await enqueueJobs(
      sql,
      Array.from({ length: 25 }, (_, i) => ({
        queue: i % 2 ? "emails" : "default",
        kind: i % 3 ? "a" : "b",
        tags: [`n:${i % 5}`],
      })),
    );
    const ids: string[] = [];
    let before: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof listJobs>> = await listJobs(sql, {
        queue: "emails",
        limit: 5,
        before,
      });
      ids.push(...page.jobs.map((j) => j.id));
      before = page.nextCursor;
    } while (before);
    equal(ids.length, 12);
    deepStrictEqual(ids, [...ids].sort((x, y) => Number(y) - Number(x)));
    equal((await listJobs(sql, { kind: "b", tag: "n:0" })).jobs.length, 2);
    await expectCode(listJobs(sql, { state: "bogus" as never }), "VALIDATION_FAILED");
  });
});

Deno.test("explainJob() names paused queues, missing workers, concurrency limits and leases", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await createQueue(sql, "limited", { concurrency: 1 });
    const [a, b] = await enqueueJobs(sql, [{ queue: "limited", kind: "k" }, {
      queue: "limited",
      kind: "k",
    }]);
    equal((await explainJob(sql, a!.job.id)).explain.code, "NO_WORKER_FOR_QUEUE");
    await registerWorker(sql, {
      id: "w1",
      host: "h",
      pid: 1,
      queues: ["*"],
      concurrency: 5,
      version: "t",
      metricsAddr: null,
    });
    equal((await explainJob(sql, a!.job.id)).explain.code, "WAITING_FOR_WORKER");
    const leased = await leaseJobs(sql, {
      queue: "limited",
      workerId: "w1",
      max: 5,
      leaseMs: 30_000,
      concurrency: 1,
    });
    equal(leased.length, 1, "the queue's concurrency limit caps the lease");
    equal((await explainJob(sql, leased[0]!.id)).explain.code, "LEASED_BY_WORKER");
    const waiting = leased[0]!.id === a!.job.id ? b! : a!;
    equal((await explainJob(sql, waiting.job.id)).explain.code, "QUEUE_CONCURRENCY_FULL");
    await updateQueuePolicy(sql, "limited", { concurrency: null });
    await setQueuePaused(sql, "limited", true);
    equal((await explainJob(sql, waiting.job.id)).explain.code, "QUEUE_PAUSED");
  });
});

Deno.test("leaseJobs() enforces a queue's start rate across workers", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await createQueue(sql, "slow", { rateLimit: { count: 3, perMs: 60_000 } });
    await enqueueJobs(sql, Array.from({ length: 10 }, () => ({ queue: "slow", kind: "k" })));
    const opts = {
      queue: "slow",
      max: 10,
      leaseMs: 30_000,
      rateLimit: { count: 3, perMs: 60_000 },
    };
    const [x, y] = await Promise.all([
      leaseJobs(sql, { ...opts, workerId: "a" }),
      leaseJobs(sql, { ...opts, workerId: "b" }),
    ]);
    equal(x.length + y.length, 3);
    const [rest] = await sql<
      { id: string }[]
    >`SELECT id FROM sluice.jobs WHERE state = 'available' LIMIT 1`;
    equal((await explainJob(sql, rest!.id)).explain.code, "NO_WORKER_FOR_QUEUE");
    await registerWorker(sql, {
      id: "a",
      host: "h",
      pid: 1,
      queues: ["slow"],
      concurrency: 5,
      version: "t",
      metricsAddr: null,
    });
    equal((await explainJob(sql, rest!.id)).explain.code, "RATE_LIMITED");
  });
});

Deno.test("enqueueJobs() keeps idempotency keys in their owner's scope", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const shared = await enqueueJob(sql, { kind: "k", idempotencyKey: "order-42" });
    const a = await enqueueJob(sql, { kind: "k", idempotencyKey: "order-42", owner: "shopA" });
    const b = await enqueueJob(sql, { kind: "k", idempotencyKey: "order-42", owner: "shopB" });
    deepStrictEqual([shared.duplicate, a.duplicate, b.duplicate], [false, false, false]);
    equal(new Set([shared.job.id, a.job.id, b.job.id]).size, 3);
    // No owner and '' are the same shared scope.
    const again = await enqueueJobs(sql, [
      { kind: "k", idempotencyKey: "order-42", owner: "" },
      { kind: "k", idempotencyKey: "order-42", owner: "shopB" },
      { kind: "k", idempotencyKey: "order-42", owner: "shopC" },
      { kind: "k", idempotencyKey: "order-42", owner: "shopC" },
    ]);
    deepStrictEqual(again.map((r) => r.duplicate), [true, true, false, true]);
    deepStrictEqual(
      again.map((r) => r.job.id),
      [shared.job.id, b.job.id, again[2]!.job.id, again[2]!.job.id],
    );
    await expectCode(enqueueJob(sql, { kind: "k", owner: "x".repeat(256) }), "VALIDATION_FAILED");
  });
});
