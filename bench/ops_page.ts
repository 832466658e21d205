/// <reference lib="dom" />
/**
 * Ops page load time with 100,000 jobs in the database (target: under 1 s).
 *
 *   deno run -A bench/ops_page.ts [--jobs 100000] [--loads 7]
 *
 * Fills a fresh database (a throwaway cluster when run outside `deno task test`) with jobs in a
 * realistic mix (mostly succeeded within the last hour, some waiting, dead, retrying), starts a
 * real `sluice api`, signs in with chromium, and times fresh page loads from navigation until
 * each view has drawn its data. Prints one line per view with the median and worst load, plus
 * the server time of the requests the overview makes.
 */
import { parseArgs } from "node:util";
import { createTestDatabase } from "../tests/_helpers/db.ts";
import { launchBrowser, startSluice } from "../tests/_helpers/sluice_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { jobs: { type: "string", default: "100000" }, loads: { type: "string", default: "7" } },
});
const JOBS = Number(values.jobs);
const LOADS = Number(values.loads);
const TOKEN = `sluice_${"benchOpsPage".padEnd(40, "b")}`;

const db = await createTestDatabase();
const { sql } = db;
const t0 = performance.now();
await sql`INSERT INTO sluice.queues (name) SELECT 'q' || i FROM generate_series(1, 5) i`;
// 90% succeeded over the last hour, then available, dead (with an error), retrying, scheduled.
await sql`
  INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, attempt, run_at, created_at,
    started_at, finished_at, dead_reason, errors)
  SELECT 'q' || (1 + i % 5), 'bench.kind' || (i % 7), jsonb_build_object('n', i),
    s.state, 3, CASE WHEN s.state IN ('succeeded', 'dead', 'retrying') THEN 1 ELSE 0 END,
    now() - (${JOBS} - i) * interval '36 ms',
    now() - (${JOBS} - i) * interval '36 ms',
    CASE WHEN s.state IN ('succeeded', 'dead') THEN now() - (${JOBS} - i) * interval '36 ms' END,
    CASE WHEN s.state IN ('succeeded', 'dead') THEN now() - (${JOBS} - i) * interval '36 ms' + interval '20 ms' END,
    CASE WHEN s.state = 'dead' THEN 'DEAD_MAX_ATTEMPTS' END,
    CASE WHEN s.state IN ('dead', 'retrying') THEN jsonb_build_array(jsonb_build_object(
      'attempt', 1, 'code', 'HANDLER_ERROR', 'message', 'boom', 'at', now() - (${JOBS} - i) * interval '36 ms',
      'startedAt', null, 'worker', 'bench', 'retryable', true)) ELSE '[]' END
  FROM generate_series(1, ${JOBS}) i,
    LATERAL (SELECT CASE
      WHEN i % 100 < 90 THEN 'succeeded' WHEN i % 100 < 95 THEN 'available'
      WHEN i % 100 < 97 THEN 'dead' WHEN i % 100 < 98 THEN 'retrying' ELSE 'scheduled' END AS state) s`;
await sql`VACUUM ANALYZE sluice.jobs`;
console.log(`filled ${JOBS} jobs in ${Math.round(performance.now() - t0)} ms`);

const sluice = await startSluice(db, { token: TOKEN, role: "api" });
const browser = await launchBrowser();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${sluice.base}/`);
  await page.fill("#token", TOKEN);
  await page.press("#token", "Enter");
  await page.waitForSelector("#whoami:text('bootstrap')");

  const views: [string, string][] = [
    ["overview", "[data-section=charts] svg.chart path, table[data-table=queues] tbody tr"],
    ["queues", "table[data-table=queues] tbody tr"],
    ["jobs", "table[data-table=jobs] tbody tr"],
    ["dlq", "table[data-table=dlq-groups] tbody tr"],
  ];
  // Two figures per view: "in page" is navigation start → data drawn, by the page's own clock
  // (what the operator waits for); "wall" adds the harness's round trips to chromium, which on
  // a loaded CI machine can dwarf the page itself. The baseline is a bare /healthz navigation.
  const wall = async (url: string, ready: string | null) => {
    const p = await context.newPage();
    const start = performance.now();
    await p.goto(url);
    let inPage = 0;
    if (ready) {
      const handle = await p.waitForFunction(
        (sel) => document.querySelector(sel) ? performance.now() : 0,
        ready,
        { timeout: 30_000, polling: "raf" },
      );
      inPage = Number(await handle.jsonValue());
    }
    const ms = performance.now() - start;
    await p.close();
    return { ms, inPage };
  };
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base: number[] = [];
  for (let i = 0; i < LOADS; i++) base.push((await wall(`${sluice.base}/healthz`, null)).ms);
  console.log(`baseline: a bare /healthz navigation takes ${med(base).toFixed(0)} ms (median)`);
  for (const [view, ready] of views) {
    const runs: { ms: number; inPage: number }[] = [];
    for (let i = 0; i < LOADS; i++) runs.push(await wall(`${sluice.base}/#/${view}`, ready));
    const inPage = runs.map((r) => r.inPage);
    console.log(
      `ops page ${view.padEnd(8)} with ${JOBS} jobs: in page median ${med(inPage).toFixed(0)} ms ` +
        `(worst ${Math.max(...inPage).toFixed(0)} ms); wall median ${
          med(runs.map((r) => r.ms)).toFixed(0)
        } ms over ${LOADS} loads`,
    );
  }
  for (
    const path of [
      "/v1/queues",
      "/v1/stats/throughput?window=1h",
      "/v1/workers",
      "/v1/dlq?limit=100",
    ]
  ) {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      const res = await fetch(`${sluice.base}${path}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      await res.body?.cancel();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    console.log(`GET ${path}: median ${times[2]!.toFixed(0)} ms`);
  }
  await context.close();
} finally {
  await browser.close();
  await sluice.stop();
  await db.drop();
}
