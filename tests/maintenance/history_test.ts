/**
 * Queue history for the charts (src/queue/history.ts): one sample per queue per minute however
 * often maintenance passes, throughput counted once between samples, a day kept, and the
 * route's buckets.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { queueHistory, sampleQueueHistory } from "../../src/queue/history.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";

const MIN = 60_000;

Deno.test("queue history: a sample a minute per queue, finished jobs counted once, a day kept", async () => {
  await withTestDatabase(async (db) => {
    await createQueue(db.sql, "a");
    await createQueue(db.sql, "b");
    await enqueueJobs(db.sql, [
      ...Array.from({ length: 5 }, () => ({ queue: "a", kind: "k" })),
      { queue: "b", kind: "k" },
    ]);
    const [{ t }] = await db.sql<[{ t: Date }]>`SELECT now() AS t`;
    const at = (ms: number) => new Date(t.getTime() + ms);
    // Three queues (a, b and the default one). Two of a's jobs finish (the scene, not what is tested): succeeded and dead.
    await db.sql`
      UPDATE sluice.jobs SET state = 'succeeded', finished_at = ${at(-1_000)}
      WHERE id IN (SELECT id FROM sluice.jobs WHERE queue = 'a' ORDER BY id LIMIT 1)`;
    await db.sql`
      UPDATE sluice.jobs SET state = 'dead', finished_at = ${at(-1_000)}
      WHERE id IN (SELECT id FROM sluice.jobs WHERE queue = 'a' AND state = 'available'
                   ORDER BY id LIMIT 1)`;

    deepStrictEqual(await sampleQueueHistory(db.sql, { now: at(0) }), { sampled: 3, pruned: 0 });
    deepStrictEqual(
      await sampleQueueHistory(db.sql, { now: at(30_000) }),
      { sampled: 0, pruned: 0 },
      "a pass within the minute samples nothing",
    );
    deepStrictEqual(await sampleQueueHistory(db.sql, { now: at(MIN) }), { sampled: 3, pruned: 0 });
    const rows = await db.sql<
      { queue: string; waiting: number; succeeded: number; dead: number }[]
    >`
      SELECT queue, waiting, succeeded, dead FROM sluice.queue_history
      WHERE queue <> 'default' ORDER BY at, queue`;
    deepStrictEqual(rows.map((r) => ({ ...r })), [
      { queue: "a", waiting: 3, succeeded: 1, dead: 1 },
      { queue: "b", waiting: 1, succeeded: 0, dead: 0 },
      { queue: "a", waiting: 3, succeeded: 0, dead: 0 },
      { queue: "b", waiting: 1, succeeded: 0, dead: 0 },
    ], "the finished jobs count in the first sample only");

    const h = await queueHistory(db.sql, "1h");
    equal(h.bucketMs, MIN);
    deepStrictEqual(h.queues.map((q) => [q.name, q.points.map((p) => p.waiting)]), [
      ["a", [3, 3]],
      ["b", [1, 1]],
      ["default", [0, 0]],
    ]);
    const day = await queueHistory(db.sql, "24h");
    equal(day.bucketMs, 5 * MIN);
    equal(
      day.queues[0]!.points.reduce((n, p) => n + p.succeeded, 0),
      1,
      "5-minute buckets sum throughput",
    );

    // A day later the older samples go as the next one is written.
    deepStrictEqual(
      await sampleQueueHistory(db.sql, { now: at(24 * 60 * MIN + 1) }),
      { sampled: 3, pruned: 3 },
    );
    const [{ n }] = await db.sql<[{ n: number }]>`
      SELECT count(*)::int AS n FROM sluice.queue_history`;
    equal(n, 6, "the minute-old pair is still inside the day");
  });
});
