import { equal, notEqual, ok } from "node:assert/strict";
import { openDatabase, type Sql } from "../../src/db/connect.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { leaseJobs, LeaseTokens } from "../../src/queue/lease.ts";
import { completeJobs, releaseJobs } from "../../src/queue/outcome.ts";
import { withTestDatabase } from "../_helpers/db.ts";

const SPAN = 2n ** 32n;
const sources = new WeakMap<Sql, LeaseTokens>();
/** Each pool leases with its own token source, as each role's Engine does. */
const lease = (sql: Sql, max: number) => {
  if (!sources.has(sql)) sources.set(sql, new LeaseTokens(sql));
  return leaseJobs(sql, {
    queue: "default",
    workerId: "w",
    max,
    leaseMs: 30_000,
    tokens: sources.get(sql),
  });
};

Deno.test("lease tokens come from a durable per-source epoch and never repeat", async () => {
  await withTestDatabase(async (db) => {
    // A second pool on the same database stands for a second worker process.
    const other = await openDatabase({ databaseUrl: db.url, dataDir: "", max: 2 });
    try {
      await enqueueJobs(db.sql, Array.from({ length: 6 }, () => ({ kind: "k" })));
      const a = await lease(db.sql, 2);
      const b = await lease(other, 2);
      const c = await lease(db.sql, 2);
      const epoch = (t: string) => BigInt(t) / SPAN;
      equal(epoch(a[0]!.fencingToken), epoch(c[1]!.fencingToken), "one epoch per handle");
      notEqual(
        epoch(a[0]!.fencingToken),
        epoch(b[0]!.fencingToken),
        "another handle, another epoch",
      );
      // The jobs of one lease statement share its fencing number; every lease has its own.
      for (const batch of [a, b, c]) equal(batch[0]!.fencingToken, batch[1]!.fencingToken);
      const numbers = [...a, ...b, ...c].map((j) => j.fencingToken);
      equal(new Set(numbers).size, 3);
      ok(BigInt(c[0]!.fencingToken) > BigInt(a[1]!.fencingToken), "numbers grow on a handle");
      // The lease token (the credential) is every job's own: 32 random bytes as base64url.
      const secrets = [...a, ...b, ...c].map((j) => j.leaseToken);
      equal(new Set(secrets).size, 6);
      for (const s of secrets) ok(/^[A-Za-z0-9_-]{43}$/.test(s), s);
      // A job given back and leased again gets a new token for the same attempt number.
      await releaseJobs(db.sql, [a[0]!]);
      await completeJobs(db.sql, [a[1]!]);
      const again = (await lease(other, 5)).find((j) => j.id === a[0]!.id)!;
      equal(again.attempt, a[0]!.attempt);
      notEqual(again.leaseToken, a[0]!.leaseToken);
      notEqual(again.fencingToken, a[0]!.fencingToken);
      // The lease's asynchronous commit was local to its own transaction.
      const [{ sc }] = await db.sql<[{ sc: string }]>`
        SELECT current_setting('synchronous_commit') AS sc`;
      const [{ fresh }] = await other<[{ fresh: string }]>`
        SELECT reset_val AS fresh FROM pg_settings WHERE name = 'synchronous_commit'`;
      equal(sc, fresh);
    } finally {
      await other.end();
    }
  });
});
