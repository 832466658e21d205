import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { alertThresholds, evaluateAlerts, opsAlerts } from "../../src/maintenance/alerts.ts";
import { requireConfig } from "../../src/config/load.ts";
import { hotTableVacuum } from "../../src/maintenance/vacuum.ts";
import { createLogger } from "../../src/obs/log.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";

/** The table's counters as the next statement sees them (own changes flushed first). */
async function stats(sql: Sql) {
  await sql`SELECT pg_stat_force_next_flush()`;
  const [s] = await sql<[{ dead: number; vacuumed: boolean }]>`
    SELECT n_dead_tup::int AS dead, last_vacuum IS NOT NULL AS vacuumed
    FROM pg_stat_user_tables WHERE relid = 'sluice.jobs'::regclass`;
  return s;
}

Deno.test("the vacuum service vacuums sluice.jobs in the background once enough tuples are dead", async () => {
  // One connection, so the statistics flushed by the test are the ones the service reads.
  await withTestDatabase(async (db) => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ write: (l) => lines.push(JSON.parse(l)) });
    const vacuum = hotTableVacuum({ minDead: 200, deadPerLive: 0.5 });
    // Only the service vacuums here: an autovacuum visit would race the counts below.
    await db.sql`ALTER TABLE sluice.jobs SET (autovacuum_enabled = false)`;
    await db.sql`
      INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts)
      SELECT 'default', 'k', '{}', 'available', 5 FROM generate_series(1, 300)`;
    // 100 dead: under the threshold, nothing starts.
    await db.sql`UPDATE sluice.jobs SET priority = 1 WHERE id <= 100`;
    equal((await stats(db.sql)).dead, 100);
    deepStrictEqual(await vacuum.run(db.sql, log), { started: 0, running: 0 });
    // 400 dead of 300 live: over both thresholds.
    await db.sql`UPDATE sluice.jobs SET priority = 2`;
    ok((await stats(db.sql)).dead >= 400);
    deepStrictEqual(await vacuum.run(db.sql, log), { started: 1, running: 1 });
    await vacuum.settled();
    const after = await stats(db.sql);
    ok(after.vacuumed, "last_vacuum is set");
    equal(after.dead, 0);
    const done = lines.find((l) => l.msg === "jobs_vacuumed");
    ok(done, "logs jobs_vacuumed");
    ok((done.dead_tuples as number) >= 400);
  }, { max: 1 });
});

Deno.test("a table_health alert for dead tuples fires only once the ratio has held for 5 minutes", async () => {
  await withTestDatabase(async (db) => {
    await db.sql`ALTER TABLE sluice.jobs SET (autovacuum_enabled = false)`;
    await db.sql`
      INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts)
      SELECT 'default', 'k', '{}', 'available', 5 FROM generate_series(1, 1000)`;
    await db.sql`UPDATE sluice.jobs SET priority = 1`;
    await stats(db.sql);
    // The defaults: dead-tuple ratio 0.2, xmin horizon 10 minutes.
    const thresholds = alertThresholds(requireConfig({}).config);
    const [{ t0 }] = await db.sql<[{ t0: Date }]>`SELECT now() AS t0`;
    const at = (min: number) => new Date(t0.getTime() + min * 60_000);
    const firing = async () =>
      (await opsAlerts(db.sql)).firing.some((a) => a.name === "table_health");
    equal((await evaluateAlerts(db.sql, thresholds, { now: at(0) })).fired, 0);
    equal(await firing(), false, "pending, not firing, right after the burst");
    equal((await evaluateAlerts(db.sql, thresholds, { now: at(4) })).fired, 0);
    equal((await evaluateAlerts(db.sql, thresholds, { now: at(5) })).fired, 1);
    ok(await firing(), "firing once the ratio held for 5 minutes");
  }, { max: 1 });
});
