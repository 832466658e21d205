/**
 * Job search at scale, and what its payload index costs enqueue (issue #19).
 *
 *   deno run -A bench/search.ts [--jobs 1000000] [--runs 20] [--enqueue 3000] [--batch 500]
 *
 * Search: fills a database with `--jobs` jobs over 8 queues (realistic payloads: customer,
 * order, items), then times each search form through `listJobs` (the API's query; HTTP adds a
 * constant) `--runs` times and prints median and p95, with and without the payload index.
 * Enqueue: one-at-a-time and batched enqueue rates of the same payload shape, on a fresh
 * database with the index and on one with the index dropped, alternating, median of 3.
 */
import { parseArgs } from "node:util";
import type { Sql } from "../src/db/connect.ts";
import { type EnqueueInput, enqueueJob, enqueueJobs } from "../src/queue/enqueue.ts";
import { Engine } from "../src/queue/engine.ts";
import { MAX_BULK_JOBS } from "../src/queue/bulk.ts";
import { countJobs } from "../src/queue/job_filter.ts";
import { type JobFilter, listJobs } from "../src/queue/inspect.ts";
import { startBenchCluster } from "./_cluster.ts";
import { fmtMs, fmtRate, median } from "./_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    jobs: { type: "string", default: "1000000" },
    runs: { type: "string", default: "20" },
    enqueue: { type: "string", default: "3000" },
    batch: { type: "string", default: "500" },
  },
});
const JOBS = Number(values.jobs), RUNS = Number(values.runs);
const QUEUES = ["default", "mail", "reports", "billing", "media", "sync", "search", "hooks"];

const payloadOf = (i: number) => ({
  customer: { id: i % 50_000, tier: i % 10 === 0 ? "gold" : "basic" },
  order: { id: `ord_${i}`, total: (i % 997) * 1.5, currency: "EUR" },
  items: [{ sku: `sku-${i % 300}`, qty: 1 + (i % 3) }],
});

async function fill(sql: Sql) {
  for (const q of QUEUES.slice(1)) await sql`INSERT INTO sluice.queues (name) VALUES (${q})`;
  // Built in SQL: a million enqueues through the engine would take the bench's whole budget.
  const step = 100_000;
  for (let from = 0; from < JOBS; from += step) {
    await sql`
      INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, tags, created_at,
                               finished_at)
      SELECT (${QUEUES}::text[])[1 + i % 8],
             (ARRAY['report.render','report.mail','invoice.send','image.resize',
                    'sync.pull'])[1 + i % 5],
             jsonb_build_object(
               'customer', jsonb_build_object('id', i % 50000,
                                              'tier', CASE WHEN i % 10 = 0 THEN 'gold' ELSE 'basic' END),
               'order', jsonb_build_object('id', 'ord_' || i, 'total', (i % 997) * 1.5,
                                           'currency', 'EUR'),
               'items', jsonb_build_array(jsonb_build_object('sku', 'sku-' || i % 300,
                                                             'qty', 1 + i % 3))),
             CASE WHEN i % 100 = 0 THEN 'dead' WHEN i % 50 = 0 THEN 'available'
                  ELSE 'succeeded' END,
             3,
             CASE WHEN i % 1000 = 0 THEN ARRAY['vip'] ELSE '{}' END,
             now() - make_interval(secs => (${JOBS}::int - i) * 0.5),
             CASE WHEN i % 50 = 0 AND i % 100 <> 0 THEN NULL ELSE now() END
      FROM generate_series(${from}::int, ${Math.min(JOBS, from + step) - 1}::int) AS i`;
  }
  await sql`VACUUM ANALYZE sluice.jobs`;
}

const SEARCHES: [string, JobFilter][] = [
  ["payload one customer (20 jobs)", { payload: "customer.id=4242" }],
  ["payload one order (1 job)", { payload: '{"order":{"id":"ord_777777"}}' }],
  ["payload gold tier (10%)", { payload: '{"customer":{"tier":"gold"}}' }],
  ["payload + queue + state", { payload: "customer.id=4242", queue: "mail", state: "succeeded" }],
  ["payload no match", { payload: "customer.id=999999" }],
  ["kind prefix report.", { kindPrefix: "report." }],
  ["tag vip", { tag: "vip" }],
  ["queue + state dead", { queue: "media", state: "dead" }],
  ["last hour", { createdAfter: new Date(Date.now() - 3_600_000).toISOString() }],
];

async function timeSearches(sql: Sql, label: string) {
  console.log(
    `\n${label}: listJobs (limit 50) and countJobs (cap ${MAX_BULK_JOBS}), ms median / p95 of ${RUNS}`,
  );
  for (const [name, f] of SEARCHES) {
    const list: number[] = [], count: number[] = [];
    let found = 0, total = 0;
    for (let r = 0; r < RUNS; r++) {
      let t0 = performance.now();
      found = (await listJobs(sql, { ...f, limit: 50 })).jobs.length;
      list.push(performance.now() - t0);
      t0 = performance.now();
      // As GET /v1/jobs/count answers: exact up to what one bulk action may act on.
      await countJobs(sql, f, { cap: MAX_BULK_JOBS });
      count.push(performance.now() - t0);
    }
    total = (await countJobs(sql, f)).count;
    const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1]!;
    console.log(
      `  ${name.padEnd(32)} list ${fmtMs(median(list))} / ${fmtMs(p95(list))}` +
        `  count ${fmtMs(median(count))} / ${fmtMs(p95(count))}  (${found} shown, ${total} match)`,
    );
  }
}

async function enqueueRates(sql: Sql, n: number, batch: number) {
  const { policies } = new Engine(sql);
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await enqueueJob(sql, { kind: "order.sync", payload: payloadOf(i) }, { policies });
  }
  const one = n / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  const many = n * 10;
  for (let i = 0; i < many; i += batch) {
    const inputs: EnqueueInput[] = [];
    for (let j = i; j < i + batch; j++) inputs.push({ kind: "order.sync", payload: payloadOf(j) });
    await enqueueJobs(sql, inputs, { policies });
  }
  return { one, batch: many / ((performance.now() - t0) / 1000) };
}

const bc = await startBenchCluster();
try {
  console.log(
    `PostgreSQL ${await bc.serverVersion()} (fsync on), ${navigator.hardwareConcurrency} cores`,
  );
  const template = await bc.sluiceTemplate();

  const n = Number(values.enqueue), batch = Number(values.batch);
  type Rates = { one: number; batch: number };
  const rates: Record<"with" | "without", Rates[]> = { with: [], without: [] };
  for (let rep = 0; rep < 3; rep++) {
    for (const variant of ["with", "without"] as const) {
      const db = await bc.createDatabase(template);
      const sql = bc.connect(db);
      try {
        if (variant === "without") await sql`DROP INDEX sluice.jobs_payload_idx`;
        rates[variant].push(await enqueueRates(sql, n, batch));
      } finally {
        await sql.end();
        await bc.dropDatabase(db);
      }
    }
  }
  console.log(
    `\nenqueue, jobs/s (median of 3; one at a time ×${n}, batches of ${batch} ×${n * 10})`,
  );
  for (const v of ["with", "without"] as const) {
    const one = median(rates[v].map((r) => r.one)), b = median(rates[v].map((r) => r.batch));
    console.log(`  ${v.padEnd(7)} payload index: one ${fmtRate(one)}  batch ${fmtRate(b)}`);
  }

  const db = await bc.createDatabase(template);
  const sql = bc.connect(db);
  try {
    let t0 = performance.now();
    await fill(sql);
    console.log(
      `\nfilled ${JOBS.toLocaleString("en-US")} jobs in ${fmtMs(performance.now() - t0)} ms`,
    );
    const [size] = await sql<{ table: string; index: string }[]>`
      SELECT pg_size_pretty(pg_table_size('sluice.jobs')) AS table,
             pg_size_pretty(pg_relation_size('sluice.jobs_payload_idx')) AS index`;
    console.log(`sluice.jobs ${size?.table}, jobs_payload_idx ${size?.index}`);
    await timeSearches(sql, "with the payload index");
    await sql`DROP INDEX sluice.jobs_payload_idx`;
    await timeSearches(sql, "without it");
    t0 = performance.now();
    await sql`CREATE INDEX jobs_payload_idx ON sluice.jobs USING gin (payload jsonb_path_ops)`;
    console.log(`\nbuilding the index on ${JOBS} jobs: ${fmtMs(performance.now() - t0)} ms`);
  } finally {
    await sql.end();
    await bc.dropDatabase(db);
  }
} finally {
  await bc.stop();
}
