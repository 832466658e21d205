/**
 * `deno task bench:composition`: what dependencies cost and how fast they release (issue #16).
 *
 *   deno run -A bench/composition.ts [--reps 10] [--jobs 5000] [--concurrency 50]
 *     [--children 300] [--gap 10]
 *
 * 1. The plain path (no dependencies, no batch), A/B in one run: the same enqueue (batches of
 *    1,000) and processing run (a real Worker) in interleaved rounds on two databases, one with
 *    migration 0014's triggers and one with them dropped ("before"). Medians with min–max over
 *    the rounds, and the paired per-round ratio.
 * 2. Release latency: children of 3 parents each (parents and child enqueued in one
 *    transaction, so no parent finishes before its child exists), one group every `--gap` ms
 *    while a Worker (concurrency 10) runs them; per child, from the last parent's finish to the
 *    child's release (released_at: the same transaction, so 0) and to its start.
 * Fresh databases on the benchmark's own cluster with fsync on (bench/_cluster.ts).
 */
import { parseArgs } from "node:util";
import { atomically } from "../src/db/connect.ts";
import { enqueueWithParents } from "../src/queue/dependencies.ts";
import { enqueueJobs } from "../src/queue/enqueue.ts";
import { Worker } from "../src/worker/worker.ts";
import { startBenchCluster } from "./_cluster.ts";
import { DEFAULT_WORKER, enqueueBatchRate, processRate } from "./_sluice.ts";
import { fmtMs, fmtRate, spread } from "./_stats.ts";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "10" },
    jobs: { type: "string", default: "5000" },
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
  console.log(`PostgreSQL ${await cluster.serverVersion()}, fsync on\n`);

  // Two databases side by side, one without the triggers, measured in interleaved rounds (the
  // order swapped every round): on a loaded machine, whole runs one after the other differed by
  // more than the effect measured (first attempt: process 850–5,542 jobs/s over 5 runs).
  const variants = ["with triggers", "without (before)"] as const;
  const dbs = await Promise.all(variants.map(async (variant) => {
    const name = await cluster.createDatabase(template);
    const sql = cluster.connect(name, 20);
    if (variant.startsWith("without")) {
      await sql`DROP TRIGGER jobs_finished ON sluice.jobs`;
      await sql`DROP TRIGGER jobs_replayed ON sluice.jobs`;
    }
    return { variant, name, sql, enqueue: [] as number[], process: [] as number[] };
  }));
  try {
    for (let round = 0; round < reps; round++) {
      const order = round % 2 === 0 ? dbs : [...dbs].reverse();
      for (const d of order) d.enqueue.push(await enqueueBatchRate(d.sql, jobs, 1000));
      for (const d of order) {
        d.process.push((await processRate(d.sql, concurrency, jobs, 120)).jobsPerS);
      }
    }
  } finally {
    for (const d of dbs) {
      await d.sql.end();
      await cluster.dropDatabase(d.name);
    }
  }
  console.log(
    `Plain path, ${reps} interleaved rounds of ${jobs} no-op jobs (enqueue in batches of 1,000; ` +
      `process at ${concurrency}):`,
  );
  const [withT, base] = dbs as [typeof dbs[0], typeof dbs[0]];
  const delta = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)}%`;
  for (const f of dbs) {
    const e = spread(f.enqueue), p = spread(f.process);
    console.log(
      `  ${f.variant.padEnd(18)} enqueue ${fmtRate(e.median)}/s (${fmtRate(e.min)}–${
        fmtRate(e.max)
      })  process ${fmtRate(p.median)}/s (${fmtRate(p.min)}–${fmtRate(p.max)})` +
        (f === base
          ? ""
          : `  Δ enqueue ${delta(e.median, spread(base.enqueue).median)}, Δ process ${
            delta(p.median, spread(base.process).median)
          }`),
    );
  }
  // Per round, paired: the ratio of the two variants measured back to back.
  for (const k of ["enqueue", "process"] as const) {
    const r = spread(withT[k].map((x, i) => x / base[k][i]!));
    console.log(
      `  paired ${k} ratio with/without: median ${r.median.toFixed(3)} (${r.min.toFixed(3)}–${
        r.max.toFixed(3)
      })`,
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
      const child = await atomically(sql, async (tx) => {
        const parents = await enqueueJobs(tx, [1, 2, 3].map(() => ({ kind: "sluice.noop" })));
        const [c] = await enqueueWithParents(tx, [{
          kind: "sluice.noop",
          dependsOn: parents.map((p) => p.job.id),
        }]);
        return c!.job.id;
      });
      children.push(child);
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
    for (const [what, xs] of [["released", release], ["started ", start]] as const) {
      console.log(
        `  last parent finished → child ${what}: p50 ${fmtMs(pct(xs, 0.5))} ms, p99 ${
          fmtMs(pct(xs, 0.99))
        } ms, max ${fmtMs(Math.max(...xs))} ms`,
      );
    }
  } finally {
    await worker.stop();
    await sql.end();
    await cluster.dropDatabase(name);
  }
} finally {
  await cluster.stop();
}
