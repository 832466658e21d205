/**
 * Keyed concurrency in the lease (src/queue/key_limits.ts): the per-key limit, fairness between
 * a hot key and cold ones, and KEY_AT_LIMIT in explain.
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJobs } from "../../src/queue/outcome.ts";
import { createQueue, updateQueuePolicy } from "../../src/queue/queues.ts";
import { registerWorker } from "../../src/queue/workers.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";

const keyed = (sql: Sql, queue: string, max: number, keyConcurrency: number) =>
  leaseJobs(sql, { queue, workerId: "w1", max, leaseMs: 30_000, keyConcurrency });

async function runningPerKey(sql: Sql, queue: string): Promise<Record<string, number>> {
  const rows = await sql<{ k: string | null; n: number }[]>`
    SELECT concurrency_key AS k, count(*)::int AS n FROM sluice.jobs
    WHERE queue = ${queue} AND state = 'running' GROUP BY 1 ORDER BY 1`;
  return Object.fromEntries(rows.map((r) => [r.k || "(none)", r.n]));
}

Deno.test("a keyed queue runs at most keyConcurrency jobs per key; jobs without a key are not limited", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await createQueue(sql, "tenants", { keyConcurrency: 2 });
    const inputs = [
      ...Array.from({ length: 5 }, () => ({ queue: "tenants", kind: "k", concurrencyKey: "a" })),
      ...Array.from({ length: 5 }, () => ({ queue: "tenants", kind: "k", concurrencyKey: "b" })),
      ...Array.from({ length: 3 }, () => ({ queue: "tenants", kind: "k" })),
    ];
    await enqueueJobs(sql, inputs);
    const first = await keyed(sql, "tenants", 100, 2);
    equal(first.length, 7);
    deepStrictEqual(await runningPerKey(sql, "tenants"), { "(none)": 3, a: 2, b: 2 });
    // Full: a second lease takes nothing until a job of a key finishes.
    equal((await keyed(sql, "tenants", 100, 2)).length, 0);
    const a = first.find((j) => j.id === first[0]!.id)!;
    await completeJobs(sql, [{ id: a.id, attempt: a.attempt, leaseToken: a.leaseToken }]);
    const next = await keyed(sql, "tenants", 100, 2);
    equal(next.length, 1);
    deepStrictEqual(await runningPerKey(sql, "tenants"), { "(none)": 3, a: 2, b: 2 });
  });
});

Deno.test("explain names KEY_AT_LIMIT with the key, the limit and the running jobs", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await createQueue(sql, "tenants", { keyConcurrency: 2 });
    await registerWorker(sql, {
      id: "w1",
      host: "h",
      pid: 1,
      queues: ["tenants"],
      concurrency: 10,
      version: "t",
      metricsAddr: null,
    });
    const jobs = await enqueueJobs(
      sql,
      Array.from(
        { length: 3 },
        () => ({ queue: "tenants", kind: "k", concurrencyKey: "tenant:7" }),
      ),
    );
    const leased = await keyed(sql, "tenants", 10, 2);
    equal(leased.length, 2);
    const waiting = jobs.find((r) => !leased.some((l) => l.id === r.job.id))!.job;
    const { explain } = await explainJob(sql, waiting.id);
    equal(explain.code, "KEY_AT_LIMIT");
    const ids = leased.map((l) => l.id).sort((x, y) => Number(x) - Number(y));
    assert(
      explain.sentence.includes(`tenant:7 has 2 of 2 running: jobs ${ids.join(", ")}`),
      explain.sentence,
    );
    deepStrictEqual(explain.facts.runningJobs, ids);
    equal(waiting.concurrencyKey, "tenant:7");
  });
});

Deno.test("fairness: one hot key with 10,000 jobs does not starve 50 cold keys with 10 each", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    // A per-key limit above the worker's slots: the limit alone would not make room for the
    // cold keys, only the ranking does.
    await createQueue(sql, "fair", { keyConcurrency: 100 });
    await enqueueJobs(
      sql,
      Array.from({ length: 10_000 }, () => ({ queue: "fair", kind: "k", concurrencyKey: "hot" })),
    );
    const cold = Array.from({ length: 50 }, (_, i) => `cold:${i}`);
    await enqueueJobs(
      sql,
      cold.flatMap((k) =>
        Array.from({ length: 10 }, () => ({ queue: "fair", kind: "k", concurrencyKey: k }))
      ),
    );
    // One lease-loop turn: a worker with 10 slots leases, runs and completes its batch.
    const started = new Set<string>();
    let turns = 0;
    while (cold.some((k) => !started.has(k)) && turns < 100) {
      turns++;
      const batch = await keyed(sql, "fair", 10, 100);
      const keys = await sql<{ k: string }[]>`
        SELECT concurrency_key AS k FROM sluice.jobs WHERE id = ANY(${batch.map((j) => j.id)})`;
      for (const { k } of keys) started.add(k);
      await completeJobs(
        sql,
        batch.map((j) => ({ id: j.id, attempt: j.attempt, leaseToken: j.leaseToken })),
      );
    }
    console.log(`fairness: all 50 cold keys started within ${turns} turns of 10 slots`);
    // 51 keys, 10 slots: the first job of every key is leased within ceil(51 / 10) = 6 turns.
    assert(turns <= 6, `cold keys waited ${turns} turns`);
  });
});

Deno.test("turning keyConcurrency on stamps waiting jobs without a key, so a backlog behind keyed jobs at their limit still runs", async () => {
  await withTestDatabase(async ({ sql }) => {
    await createQueue(sql, "late");
    // 1,000 jobs of one key ahead of five without any key, all enqueued before the limit existed.
    await enqueueJobs(
      sql,
      Array.from({ length: 1_000 }, () => ({ queue: "late", kind: "k", concurrencyKey: "hot" })),
    );
    await enqueueJobs(sql, Array.from({ length: 5 }, () => ({ queue: "late", kind: "k" })));
    await updateQueuePolicy(sql, "late", { keyConcurrency: 1 });
    const leased = await keyed(sql, "late", 10, 1);
    // One of the hot key (its limit) and every unkeyed job: before the stamp, the unkeyed ones
    // sat behind 1,000 hot jobs, outside the pick's window, and this lease took only one job.
    equal(leased.length, 6);
    deepStrictEqual(await runningPerKey(sql, "late"), { "(none)": 5, hot: 1 });
    const unkeyed = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM sluice.jobs WHERE queue = 'late' AND concurrency_key IS NULL`;
    equal(unkeyed[0]?.n, 0);
  });
});
