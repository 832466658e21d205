import { equal, rejects } from "node:assert/strict";
import { type TestDatabase, withTestDatabase } from "../_helpers/db.ts";

/** Whether a database of this name exists on the test server (pg_database is cluster-wide). */
async function exists(seenFrom: TestDatabase, name: string): Promise<boolean> {
  const rows = await seenFrom.sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
  return rows.length === 1;
}

Deno.test("withTestDatabase() drops the database after the test, also when it throws, and rethrows the test's own error", async () => {
  await withTestDatabase(async (observer) => {
    let passed = "";
    equal(await withTestDatabase((db) => (passed = db.name, Promise.resolve(42))), 42);
    equal(await exists(observer, passed), false, "dropped after a passing test");

    let failed = "";
    const failure = new Error("the test's assertion");
    await rejects(
      withTestDatabase(async (db) => {
        failed = db.name;
        equal(await exists(observer, db.name), true);
        throw failure;
      }),
      (e) => e === failure,
    );
    equal(await exists(observer, failed), false, "dropped after a failing test");
  });
});
