/**
 * `deno task bench:composition`: what dependencies cost and how fast they release (issue #16).
 *
 *   deno run -A bench/composition.ts [--reps 5] [--jobs 20000] [--concurrency 50]
 *     [--children 300] [--gap 10]
 *
 * 1. The plain path (no dependencies, no batch), A/B in one run: the same enqueue (batches of
 *    1,000) and processing run (a real Worker) on fresh databases with migration 0011's
 *    triggers, and with them dropped ("before"), alternating which goes first. Medians with
 *    min–max over the repetitions.
 * 2. Release latency: children of 3 parents each, created one group every `--gap` ms while a
 *    Worker (concurrency 10) runs them; per child, from the last parent's finish to the child's
 *    start, and to its release (released_at; the same transaction, so 0).
 * Fresh databases on the benchmark's own cluster with fsync on (bench/_cluster.ts).
 */
import { parseArgs } from "node:util";
import { enqueueWithParents } from "../src/queue/dependencies.ts";
import { enqueueJobs } from "../src/queue/enqueue.ts";
import { Worker } from "../src/worker/worker.ts";
import { startBenchCluster } from "./_cluster.ts";
import { DEFAULT_WORKER, enqueueBatchRate, processRate } from "./_sluice.ts";
import { fmtMs, fmtRate, spread } from "./_stats.ts";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "5" },
    jobs: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "50" },
    children: { type: "string", default: "300" },
    gap: { type: "string", default: "10" },
  },
});
const reps = Number(values.reps), jobs = Number(values.jobs);
const concurrency = Number(values.concurrency);

const cluster = await startBenchCluster();
try {
  const template = await cluster.sluiceTemplate();
  console.log(`PostgreSQL ${await cluster.serverVersion()}, fsync on; ${reps} repetitions\n`);

  const figures: Record<string, { enqueue: number[]; process: number[] }> = {
    "with triggers": { enqueue: [], process: [] },
    "without (before)": { enqueue: [], process: [] },
  };
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? Object.keys(figures) : Object.keys(figures).reverse();
    for (const variant of order) {
      const name = await cluster.createDatabase(template);
      const sql = cluster.connect(name, 20);
      try {
        if (variant.startsWith("without")) {
          await sql`DROP TRIGGER jobs_finished ON sluice.jobs`;
          await sql`DROP TRIGGER jobs_replayed ON sluice.jobs`;
        }
        figures[variant]!.enqueue.push(await enqueueBatchRate(sql, jobs, 1000));
        figures[variant]!.process.push((await processRate(sql, concurrency, jobs, 120)).jobsPerS);
      } finally {
        await sql.end();
        await cluster.dropDatabase(name);
      }
    }
  }
  console.log(
    `Plain path, ${jobs} no-op jobs (enqueue in batches of 1,000; process at ${concurrency}):`,
  );
  const base = figures["without (before)"]!;
  for (const [variant, f] of Object.entries(figures)) {
    const e = spread(f.enqueue), p = spread(f.process);
    const d = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)}%`;
    console.log(
      `  ${variant.padEnd(18)} enqueue ${fmtRate(e.median)}/s (${fmtRate(e.min)}–${
        fmtRate(e.max)
      })  process ${fmtRate(p.median)}/s (${fmtRate(p.min)}–${fmtRate(p.max)})` +
        (f === base
          ? ""
          : `  Δ enqueue ${d(e.median, spread(base.enqueue).median)}, Δ process ${
            d(p.median, spread(base.process).median)
          }`),
    );
  }

  const name = await cluster.createDatabase(template);
  const sql = cluster.connect(name, 20);
  const worker = new Worker({
    sql,
    workerId: "bench-release",
    queues: null,
    concurrency: 10,
    ...DEFAULT_WORKER,
  });
  try {
    await worker.start();
    const children: string[] = [];
    for (let i = 0; i < Number(values.children); i++) {
      const parents = await enqueueJobs(sql, [1, 2, 3].map(() => ({ kind: "sluice.noop" })));
      const [child] = await enqueueWithParents(sql, [{
        kind: "sluice.noop",
        dependsOn: parents.map((p) => p.job.id),
      }]);
      children.push(child!.job.id);
      await new Promise((r) => setTimeout(r, Number(values.gap)));
    }
    for (;;) {
      const [{ n }] = await sql<[{ n: number }]>`
        SELECT count(*)::int AS n FROM sluice.jobs
        WHERE id = ANY(${children}::bigint[]) AND state = 'succeeded'`;
      if (n === children.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const rows = await sql<{ start_ms: number; release_ms: number }[]>`
      SELECT extract(epoch FROM c.started_at - p.last) * 1000 AS start_ms,
        extract(epoch FROM c.released_at - p.last) * 1000 AS release_ms
      FROM sluice.jobs c
      CROSS JOIN LATERAL (
        SELECT max(j.finished_at) AS last FROM sluice.job_dependencies d
        JOIN sluice.jobs j ON j.id = d.parent_id WHERE d.child_id = c.id
      ) p
      WHERE c.id = ANY(${children}::bigint[])`;
    const pct = (xs: number[], q: number) => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
    };
    const start = rows.map((r) => Number(r.start_ms));
    const release = rows.map((r) => Number(r.release_ms));
    console.log(
      `\nRelease latency, ${rows.length} children of 3 parents (worker at 10, one group every ${values.gap} ms):`,
    );
    console.log(
      `  last parent finished → child released: p50 ${fmtMs(pct(release, 0.5))} ms, p99 ${
        fmtMs(pct(release, 0.99))
      } ms`,
    );
    console.log(
      `  last parent finished → child started:  p50 ${fmtMs(pct(start, 0.5))} ms, p99 ${
        fmtMs(pct(start, 0.99))
      } ms`,
    );
  } finally {
    await worker.stop();
    await sql.end();
    await cluster.dropDatabase(name);
  }
} finally {
  await cluster.stop();
}
