/**
 * `deno task bench`: Sluice alone, on its own ephemeral PostgreSQL (fsync on).
 *
 *   deno task bench [--jobs 20000] [--batch 1000] [--concurrency 10,50] [--one 2000] [--reps 1]
 *     [--keys 100 --key-concurrency 5]
 *
 * Enqueues `--jobs` sluice.noop in batches of `--batch`, processes them with the real Worker at
 * each concurrency (first start → last completion, from the database), repeats `--reps` times
 * (a fresh database each), and measures `--one` one-at-a-time enqueues. With `--keys N` the
 * queue has keyConcurrency `--key-concurrency` and the jobs take N concurrency keys in turn:
 * the keyed lease path (docs/flow-control.md). The comparison with
 * pg-boss and graphile-worker is `deno task bench:compare`.
 */
import { parseArgs } from "node:util";
import { startBenchCluster } from "./_cluster.ts";
import { enqueueBatchRate, enqueueOneRate, processRate } from "./_sluice.ts";
import { fmtRate, median } from "./_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    jobs: { type: "string", default: "20000" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "10,50" },
    one: { type: "string", default: "2000" },
    reps: { type: "string", default: "1" },
    cap: { type: "string", default: "120" },
    keys: { type: "string", default: "0" },
    "key-concurrency": { type: "string", default: "5" },
  },
});
const jobs = Number(values.jobs), batch = Number(values.batch), reps = Number(values.reps);
const concurrency = values.concurrency.split(",").map(Number);
const keys = Number(values.keys);

const bc = await startBenchCluster();
try {
  console.log(
    `PostgreSQL ${await bc.serverVersion()} (fsync on), ${navigator.hardwareConcurrency} cores`,
  );
  const template = await bc.sluiceTemplate();
  const batchRates: number[] = [];
  const procRates = new Map<number, number[]>(concurrency.map((c) => [c, []]));
  let oneRate = 0;
  for (let rep = 0; rep < reps; rep++) {
    const db = await bc.createDatabase(template);
    const sql = bc.connect(db);
    try {
      if (keys > 0) {
        await sql`UPDATE sluice.queues SET policy = policy || jsonb_build_object(
          'keyConcurrency', ${Number(values["key-concurrency"])}::int) WHERE name = 'default'`;
      }
      if (rep === 0 && Number(values.one) > 0) {
        oneRate = await enqueueOneRate(sql, Number(values.one));
        await sql`DELETE FROM sluice.jobs`;
      }
      for (const c of concurrency) {
        batchRates.push(await enqueueBatchRate(sql, jobs, batch, "sluice.noop", keys));
        const r = await processRate(sql, c, jobs, Number(values.cap));
        procRates.get(c)!.push(r.jobsPerS);
        console.log(
          `rep ${rep + 1}: concurrency ${c}: ${fmtRate(r.jobsPerS)} jobs/s` +
            (r.capped ? ` (capped: ${r.completed} of ${jobs})` : ""),
        );
      }
    } finally {
      await sql.end();
      await bc.dropDatabase(db);
    }
  }
  console.log("");
  if (oneRate) console.log(`enqueue one at a time (${values.one}): ${fmtRate(oneRate)} jobs/s`);
  console.log(`enqueue batches of ${batch}: ${fmtRate(median(batchRates))} jobs/s (median)`);
  for (const c of concurrency) {
    console.log(
      `process ${jobs} sluice.noop${keys > 0 ? ` with ${keys} keys` : ""} at concurrency ${c}: ${
        fmtRate(median(procRates.get(c)!))
      } jobs/s (median of ${reps})`,
    );
  }
} finally {
  await bc.stop();
}
