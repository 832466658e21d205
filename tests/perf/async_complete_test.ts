import { deepStrictEqual, equal } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJobs } from "../../src/queue/outcome.ts";
import { withTestDatabase } from "../_helpers/db.ts";

Deno.test("completeJobs({ asyncCommit }) stays fenced and leaves the session setting alone", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await enqueueJobs(sql, [{ kind: "k" }, { kind: "k" }]);
    const jobs = await leaseJobs(sql, { queue: "default", workerId: "w", max: 2, leaseMs: 30_000 });
    equal(jobs.length, 2);
    const [{ before }] = await sql<[{ before: string }]>`
      SELECT current_setting('synchronous_commit') AS before`;
    // A well-formed secret that is not this attempt's.
    const stale = { ...jobs[1]!, leaseToken: "A".repeat(43) };
    const done = await completeJobs(sql, [jobs[0]!, stale], { asyncCommit: true });
    deepStrictEqual([...done], [jobs[0]!.id]);
    // The setting was local to that statement's transaction (one pooled connection: same session).
    const [{ after }] = await sql<[{ after: string }]>`
      SELECT current_setting('synchronous_commit') AS after`;
    equal(after, before);
    const states = await sql<{ state: string }[]>`SELECT state FROM sluice.jobs ORDER BY id`;
    deepStrictEqual(states.map((r) => r.state), ["succeeded", "running"]);
  }, { max: 1 });
});
