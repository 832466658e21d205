/**
 * Throttle and debounce (src/queue/throttle.ts, debounce.ts): concurrent enqueues make one job,
 * keys live in the owner's space, suppressed enqueues are in the decisions log, and a debounced
 * job a worker leased is never modified.
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { listDecisions } from "../../src/queue/decisions.ts";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { promoteDueJobs } from "../../src/queue/promote.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";

async function jobsOf(sql: Sql, where = sql`true`) {
  return await sql<{ id: string; payload: { n: number }; state: string }[]>`
    SELECT id, payload, state FROM sluice.jobs WHERE ${where} ORDER BY id`;
}

Deno.test("throttle: 20 concurrent enqueues with one key make one job; the rest are its duplicates", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        enqueueJob(sql, {
          kind: "k",
          payload: { n },
          throttle: { key: "user:9", perMs: 60_000 },
          owner: "p1",
          createdBy: "p1",
        })),
    );
    const jobs = await jobsOf(sql);
    equal(jobs.length, 1);
    deepStrictEqual(new Set(results.map((r) => r.job.id)), new Set([jobs[0]!.id]));
    equal(results.filter((r) => !r.duplicate).length, 1);
    const { decisions } = await listDecisions(sql, { code: "THROTTLED" });
    equal(decisions.length, 19);
    assert(decisions[0]!.detail.includes(`job ${jobs[0]!.id}`), decisions[0]!.detail);
    equal(decisions[0]!.tokenName, "p1");
    // Another owner's key space is its own; in one batch the second row answers with the first.
    const other = await enqueueJobs(sql, [
      { kind: "k", throttle: { key: "user:9", perMs: 60_000 }, owner: "p2" },
      { kind: "k", throttle: { key: "user:9", perMs: 60_000 }, owner: "p2" },
    ]);
    equal(other[0]!.duplicate, false);
    assert(other[0]!.job.id !== jobs[0]!.id);
    deepStrictEqual([other[1]!.duplicate, other[1]!.job.id], [true, other[0]!.job.id]);
  }, { max: 20 });
});

Deno.test("throttle: the window is time, not the job's life; after it a new job is made", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const t = { key: "user:1", perMs: 300 };
    const first = await enqueueJob(sql, { kind: "k", throttle: t });
    // The first job finishing does not reopen the window.
    await sql`UPDATE sluice.jobs SET state = 'succeeded', finished_at = now() WHERE id = ${first.job.id}`;
    const again = await enqueueJob(sql, { kind: "k", throttle: t });
    deepStrictEqual([again.duplicate, again.job.id], [true, first.job.id]);
    // The window ends: move it back rather than sleep.
    await sql`UPDATE sluice.throttle_windows SET until = now() - interval '1 second'`;
    const later = await enqueueJob(sql, { kind: "k", throttle: t });
    equal(later.duplicate, false);
    assert(later.job.id !== first.job.id);
  });
});

Deno.test("debounce: concurrent enqueues make one waiting job; a later one replaces its payload and pushes it back", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, n) =>
          enqueueJob(sql, {
            kind: "k",
            payload: { n },
            debounce: { key: "doc:3", delayMs: 30_000 },
          }),
      ),
    );
    const jobs = await jobsOf(sql);
    equal(jobs.length, 1);
    equal(jobs[0]!.state, "scheduled");
    equal(results.filter((r) => !r.duplicate).length, 1);
    deepStrictEqual(new Set(results.map((r) => r.job.id)), new Set([jobs[0]!.id]));
    equal((await listDecisions(sql, { code: "DEBOUNCED" })).decisions.length, 19);
    // A later enqueue replaces the payload and pushes the run time back.
    const before = await getJob(sql, jobs[0]!.id);
    const last = await enqueueJob(sql, {
      kind: "k",
      payload: { n: 99 },
      debounce: { key: "doc:3", delayMs: 30_000 },
    });
    deepStrictEqual([last.duplicate, last.job.id, last.job.payload], [true, jobs[0]!.id, {
      n: 99,
    }]);
    assert(last.job.runAt > before.runAt, `${last.job.runAt} > ${before.runAt}`);
  }, { max: 20 });
});

Deno.test("debounce vs lease: a job a worker leased is never modified, the enqueue makes a new one", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const key = { key: "doc:race", delayMs: 1 };
    // The keyed lease locks no row before its UPDATE: it must re-check the state too.
    await createQueue(sql, "keyed", { keyConcurrency: 5 });
    const won = { lease: 0, enqueue: 0 };
    for (let round = 0; round < 60; round++) {
      const queue = round % 2 === 0 ? "default" : "keyed";
      const first = await enqueueJob(sql, {
        queue,
        kind: "k",
        payload: { n: round * 10 },
        debounce: key,
      });
      await sql`UPDATE sluice.jobs SET run_at = now() - interval '1 second' WHERE id = ${first.job.id}`;
      await promoteDueJobs(sql);
      // The lease and the enqueue race for the available job.
      const [leased, enq] = await Promise.all([
        leaseJobs(sql, {
          queue,
          workerId: "w",
          max: 10,
          leaseMs: 30_000,
          keyConcurrency: queue === "keyed" ? 5 : null,
        }),
        enqueueJob(sql, { queue, kind: "k", payload: { n: round * 10 + 1 }, debounce: key }),
      ]);
      const job = await getJob(sql, first.job.id);
      if (leased.some((j) => j.id === first.job.id)) {
        // The worker won: it runs the first payload, untouched; the enqueue made a new job.
        won.lease++;
        deepStrictEqual([job.state, job.payload], ["running", { n: round * 10 }]);
        deepStrictEqual(leased.find((j) => j.id === first.job.id)!.payload, { n: round * 10 });
        equal(enq.duplicate, false);
        assert(enq.job.id !== first.job.id);
      } else {
        // The enqueue won: the job waits again with the new payload.
        won.enqueue++;
        deepStrictEqual([job.state, job.payload], ["scheduled", { n: round * 10 + 1 }]);
        deepStrictEqual([enq.duplicate, enq.job.id], [true, first.job.id]);
      }
      await sql`UPDATE sluice.jobs SET state = 'succeeded', finished_at = now()
        WHERE state <> 'succeeded'`;
    }
    console.log(
      `debounce vs lease: the lease won ${won.lease}, the enqueue ${won.enqueue} of 60`,
    );
  }, { max: 20 });
});

Deno.test("throttle and debounce refuse combinations they cannot honour", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const cases = [
      { kind: "k", throttle: { key: "a", perMs: 1000 }, debounce: { key: "a", delayMs: 1000 } },
      { kind: "k", throttle: { key: "a", perMs: 1000 }, idempotencyKey: "x" },
      { kind: "k", debounce: { key: "a", delayMs: 1000 }, delayMs: 5 },
      { kind: "k", debounce: { key: "", delayMs: 1000 } },
      { kind: "k", throttle: { key: "a", perMs: 0 } },
    ];
    for (const c of cases) {
      const e = await enqueueJob(sql, c).then(() => null, (e) => e);
      equal(e?.code, "VALIDATION_FAILED", JSON.stringify(c));
    }
    equal((await jobsOf(sql)).length, 0);
  });
});
