import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { Engine } from "../../src/queue/engine.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";

Deno.test("enqueueJobs() with a cached queue still obeys a policy changed behind its back", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const { policies } = new Engine(sql);
    const enqueue = (input: Parameters<typeof enqueueJob>[1]) =>
      enqueueJob(sql, input, { policies });
    await createQueue(sql, "mail");
    const first = await enqueue({ queue: "mail", kind: "k", payload: { a: 1 } });
    equal(first.job.maxAttempts, 5);
    // Changed by plain SQL (another process, say): the engine's cached policy is now stale.
    await sql`UPDATE sluice.queues SET policy = '{"maxPayloadBytes": 10, "maxAttempts": 3}'
      WHERE name = 'mail'`;
    await rejects(
      enqueue({ queue: "mail", kind: "k", payload: { long: "x".repeat(50) } }),
      (e: Error & { code?: string }) => e.code === "PAYLOAD_TOO_LARGE",
    );
    const small = await enqueue({ queue: "mail", kind: "k", payload: {} });
    equal(small.job.maxAttempts, 3);
    // Paused behind the cache's back, refusing while paused: the paused flag is guarded too.
    await sql`UPDATE sluice.queues SET policy = '{"rejectWhenPaused": true}' WHERE name = 'mail'`;
    await enqueue({ queue: "mail", kind: "k", payload: {} });
    await sql`UPDATE sluice.queues SET paused = true WHERE name = 'mail'`;
    await rejects(
      enqueue({ queue: "mail", kind: "k" }),
      (e: Error & { code?: string }) => e.code === "QUEUE_PAUSED",
    );
    await sql`DELETE FROM sluice.queues WHERE name = 'mail'`;
    await rejects(
      enqueue({ queue: "mail", kind: "k" }),
      (e: Error & { code?: string }) => e.code === "QUEUE_NOT_FOUND",
    );
    const [{ n }] = await sql<[{ n: number }]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    equal(n, 3);
  });
});

Deno.test("enqueueJobs() returns the same Job resource as reading the job back", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const results = await enqueueJobs(sql, [
      { kind: "a", payload: { z: 1, a: [1, "two"], d: new Date(0) }, tags: ["t"], priority: 5 },
      { kind: "b", delayMs: 60_000, idempotencyKey: "k1", timeoutMs: 1_000, createdBy: "me" },
      { kind: "c", idempotencyKey: "k1" },
    ]);
    deepStrictEqual(results.map((r) => r.duplicate), [false, false, true]);
    deepStrictEqual(results[2]!.job, results[1]!.job);
    for (const r of results) deepStrictEqual(r.job, await getJob(sql, r.job.id));
    equal(results[1]!.job.state, "scheduled");
  });
});
