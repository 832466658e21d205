import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { jobThroughput } from "../../src/queue/throughput.ts";
import { withTestDatabase } from "../_helpers/db.ts";

Deno.test("jobThroughput() counts finished jobs and failed attempts per minute", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const empty = await jobThroughput(sql);
    deepEqual(empty.buckets, []);
    equal(empty.coversWindow, true);
    await sql`
      INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, finished_at, errors)
      VALUES
        ('default', 'k', '{}', 'succeeded', 3, now(), '[]'),
        ('default', 'k', '{}', 'succeeded', 3, now(), ${
      JSON.stringify([{ attempt: 1, code: "E", message: "m", at: new Date().toISOString() }])
    }::text::jsonb),
        ('default', 'k', '{}', 'dead', 1, now(), '[]'),
        ('default', 'k', '{}', 'succeeded', 3, now() - interval '2 hours', '[]'),
        ('default', 'k', '{}', 'available', 3, null, '[]')`;
    const t = await jobThroughput(sql);
    const sum = (k: "succeeded" | "dead" | "failed") => t.buckets.reduce((a, b) => a + b[k], 0);
    equal(sum("succeeded"), 2);
    equal(sum("dead"), 1);
    equal(sum("failed"), 1);
    equal(t.scanned, 5);
    assert(t.buckets.every((b) => new Date(b.at).getUTCSeconds() === 0));
    const bounded = await jobThroughput(sql, { scanLimit: 2 });
    equal(bounded.scanned, 2);
  });
});
