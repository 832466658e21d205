/**
 * How long the scrape-time database gauges take with 1,000,000 jobs in the table.
 *
 *   deno run -A bench/metrics.ts [--jobs 1000000]
 *
 * Uses DATABASE_URL's server when set (creates and drops a scratch database), else a throwaway
 * embedded cluster in /tmp. Seeds a realistic mix — most rows succeeded (not yet archived),
 * a backlog of available and scheduled jobs over 10 queues, some running, retrying, dead and
 * cancelled — VACUUM ANALYZEs like autovacuum would, then times `readDbGauges` (what
 * `/metrics/prom` runs, uncached), the full Prometheus exposition, the JSON snapshot, the ops
 * view, and the maintenance `counter` that keeps the finished-state snapshot. Target: the
 * gauges well under 200 ms.
 */
import { parseArgs } from "node:util";
import { openDatabase, type Sql } from "../src/db/connect.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { countFinishedJobs } from "../src/maintenance/counter.ts";
import { DbGauges, readDbGauges } from "../src/obs/db_gauges.ts";
import { Registry } from "../src/obs/metrics.ts";
import { exposition } from "../src/obs/prometheus.ts";
import { sluiceSeries } from "../src/obs/series.ts";
import { metricsSnapshot } from "../src/obs/snapshot.ts";
import { opsQueuesSnapshot } from "../src/api/triage.ts";
import { databaseUrlFor, embeddedUrl, TEST_CLUSTER_SETTINGS } from "../tests/_helpers/db.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "1000000" },
    explain: { type: "boolean", default: false },
  },
});
const N = Number(values.jobs);

async function time(label: string, runs: number, fn: () => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const p50 = ms[Math.floor(ms.length / 2)]!, max = ms.at(-1)!;
  console.log(
    `${label.padEnd(34)} p50 ${p50.toFixed(1).padStart(7)} ms   max ${
      max.toFixed(1).padStart(7)
    } ms   (${runs} runs)`,
  );
  return p50;
}

async function seed(sql: Sql) {
  await sql`INSERT INTO sluice.queues (name) SELECT 'q' || i FROM generate_series(1, 9) i`;
  // Shares of N: 70% succeeded, 15% available, 5% scheduled, 2% retrying, 3% dead,
  // 4.8% cancelled, 0.2% running.
  const t0 = performance.now();
  await sql.unsafe(`
    INSERT INTO sluice.jobs (queue, kind, payload, state, run_at, attempt, max_attempts,
      lease_expires_at, finished_at, lease_token, worker_id, dead_reason)
    SELECT CASE WHEN i % 10 = 0 THEN 'default' ELSE 'q' || (i % 10) END, 'bench', '{"n":1}', s,
      CASE WHEN s IN ('scheduled', 'retrying') THEN now() + (i % 3600) * interval '1 second'
        ELSE now() - (i % 86400) * interval '1 second' END,
      CASE WHEN s IN ('available', 'scheduled') THEN 0 ELSE 1 END, 5,
      CASE WHEN s = 'running' THEN now() + interval '30 seconds' END,
      CASE WHEN s IN ('succeeded', 'dead', 'cancelled') THEN now() - (i % 86400) * interval '1 second' END,
      CASE WHEN s = 'running' THEN i END, CASE WHEN s = 'running' THEN 'bench-w' END,
      CASE WHEN s = 'dead' THEN 'DEAD_MAX_ATTEMPTS' END
    FROM (
      SELECT i, CASE
        WHEN i % 1000 < 700 THEN 'succeeded' WHEN i % 1000 < 850 THEN 'available'
        WHEN i % 1000 < 900 THEN 'scheduled' WHEN i % 1000 < 920 THEN 'retrying'
        WHEN i % 1000 < 950 THEN 'dead' WHEN i % 1000 < 998 THEN 'cancelled'
        ELSE 'running' END AS s
      FROM generate_series(1, ${N}) i
    ) x`);
  console.log(`seeded ${N} jobs in ${Math.round(performance.now() - t0)} ms`);
  const t1 = performance.now();
  await sql.unsafe("VACUUM ANALYZE sluice.jobs");
  console.log(`VACUUM ANALYZE in ${Math.round(performance.now() - t1)} ms`);
}

async function main() {
  const url = Deno.env.get("DATABASE_URL");
  let admin: string;
  let cleanup = async () => {};
  if (url) admin = url;
  else {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-bench-" });
    const cluster = await startEmbedded({ dataDir: dir, settings: TEST_CLUSTER_SETTINGS });
    const c = cluster.connection;
    admin = embeddedUrl(c.host, c.port, c.database, c.username);
    cleanup = async () => {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
  }
  const name = `bench_metrics_${Date.now()}`;
  const adminSql = await openDatabase({ databaseUrl: admin, dataDir: "", max: 1 });
  await adminSql.unsafe(`CREATE DATABASE ${name}`);
  const sql = await openDatabase({ databaseUrl: databaseUrlFor(admin, name), dataDir: "", max: 4 });
  try {
    await migrate(sql);
    await seed(sql);
    if (values.explain) {
      for (
        const where of [
          "state = 'available' GROUP BY queue",
          "state IN ('scheduled', 'retrying') GROUP BY queue, state",
          "state = 'running' GROUP BY queue",
          "state = 'dead' GROUP BY queue",
        ]
      ) {
        const plan = await sql.unsafe(
          `EXPLAIN (ANALYZE, BUFFERS) SELECT queue, count(*), min(run_at) FROM sluice.jobs WHERE ${where}`,
        );
        console.log(plan.map((r) => r["QUERY PLAN"]).join("\n"));
      }
    }
    await time(
      "counter (maintenance, once a minute)",
      3,
      () => countFinishedJobs(sql, { minIntervalMs: 0 }),
    );
    const p50 = await time("readDbGauges (uncached scrape)", 20, () => readDbGauges(sql));
    const registry = new Registry();
    const gauges = new DbGauges(sql, sluiceSeries(registry), 0);
    registry.onCollect(() => gauges.apply());
    await time("/metrics/prom exposition (uncached)", 20, () => exposition(registry));
    await time("/metrics JSON snapshot", 10, () => metricsSnapshot(sql));
    await time("/v1/ops/queues snapshot", 10, () => opsQueuesSnapshot(sql));
    console.log(
      `RESULT gauges p50 ${p50.toFixed(1)} ms with ${N} jobs (target < 200 ms): ${
        p50 < 200 ? "ok" : "SLOW"
      }`,
    );
  } finally {
    await sql.end();
    await adminSql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await adminSql.end();
    await cleanup();
  }
}

await main();
