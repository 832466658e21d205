// Competitor runner for bench/compare.ts: runs the shared workloads against pg-boss or
// graphile-worker in one fresh database and prints one JSON line with the figures.
//
//   node run.mjs '<json>'   json = {system, mode, db: {host, port, user, database}, w: {...}}
//
// Measured exactly as bench/_sluice.ts measures Sluice (same process layout: one Node process
// enqueues and works, like one Sluice process):
//   enqueue one  N sequential single-job inserts, jobs/s
//   enqueue batch  20,000 in batches of 1,000, jobs/s
//   process c    first handler start -> last completion durable in the database
//                (pg-boss: min(started_on)..max(completed_on) from its table; graphile-worker
//                deletes finished jobs, so: first handler call -> the moment a 5 ms poll sees
//                the job table empty), capped at w.capS seconds (then completed/elapsed)
//   latency      w.latencyJobs jobs, one per w.latencyGapMs, idle worker: send -> handler start
import pg from "pg";

const arg = JSON.parse(process.argv[2]);
const { system, mode, db, w } = arg;
const tuned = mode === "tuned";
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pool(max) {
  return new pg.Pool({ ...db, max });
}

// Pools: every system gets max(10, concurrency + 2) connections, so no one starves on a pool
// smaller than its concurrency (graphile-worker's docs ask for that too).
const poolSize = (c) => Math.max(10, c + 2);

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

// ---------------------------------------------------------------- pg-boss
async function pgBoss() {
  const { PgBoss } = await import("pg-boss");
  const mk = (c, extra = {}) =>
    new PgBoss({
      ...db,
      max: poolSize(c),
      schedule: false,
      supervise: false,
      // Tuned: LISTEN/NOTIFY wake-ups (docs: instance `useListenNotify` + queue `notify`).
      useListenNotify: tuned,
      ...extra,
    });
  const boss0 = mk(1, { supervise: true, migrate: true });
  boss0.on("error", () => {});
  await boss0.start();
  const out = { enqueue: {}, process: {}, latency: null };
  let qn = 0;
  const newQueue = async () => {
    const name = `bench${qn++}`;
    await boss0.createQueue(name, tuned ? { notify: true } : {});
    return name;
  };
  // Enqueue one at a time.
  {
    const q = await newQueue();
    const t0 = now();
    for (let i = 0; i < w.enqueueOne; i++) await boss0.send(q, { i });
    out.enqueue.one = w.enqueueOne / ((now() - t0) / 1000);
  }
  const fill = async (q) => {
    const t0 = now();
    for (let i = 0; i < w.jobs; i += w.batch) {
      const jobs = [];
      for (let j = i; j < Math.min(w.jobs, i + w.batch); j++) jobs.push({ data: { i: j } });
      await boss0.insert(q, jobs);
    }
    return w.jobs / ((now() - t0) / 1000);
  };
  for (const c of w.concurrency) {
    const q = await newQueue();
    const rate = await fill(q);
    out.enqueue.batch ??= rate;
    const boss = mk(c);
    boss.on("error", () => {});
    await boss.start();
    let handled = 0;
    const opts = tuned
      ? { localConcurrency: c, batchSize: 100, burstWhenBatchFull: true }
      : { localConcurrency: c };
    const t0 = now();
    await boss.work(q, opts, async (jobs) => {
      handled += jobs.length;
    });
    const deadline = t0 + w.capS * 1000;
    const count = async () =>
      Number(
        (await boss0.getDb().executeSql(
          `SELECT count(*) AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`,
          [q],
        )).rows[0].n,
      );
    while (now() < deadline) {
      if (handled >= w.jobs && (await count()) >= w.jobs) break;
      await sleep(20);
    }
    await boss.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => {});
    const r = (await boss0.getDb().executeSql(
      `SELECT count(*) AS n,
         extract(epoch FROM max(completed_on) - min(started_on)) * 1000 AS ms
       FROM pgboss.job WHERE name = $1 AND state = 'completed'`,
      [q],
    )).rows[0];
    const n = Number(r.n);
    out.process[c] = { jobsPerS: n / (Number(r.ms) / 1000), completed: n, capped: n < w.jobs };
  }
  // Latency with an idle worker.
  {
    const q = await newQueue();
    const boss = mk(10);
    boss.on("error", () => {});
    await boss.start();
    const sent = new Map();
    const lat = [];
    const opts = tuned ? { localConcurrency: 10, batchSize: 100 } : { localConcurrency: 10 };
    await boss.work(q, opts, async (jobs) => {
      const t = now();
      for (const j of jobs) lat.push(t - sent.get(j.data.i));
    });
    await sleep(300);
    for (let i = 0; i < w.latencyJobs; i++) {
      sent.set(i, now());
      await boss0.send(q, { i });
      await sleep(w.latencyGapMs);
    }
    const deadline = now() + 10_000;
    while (lat.length < w.latencyJobs && now() < deadline) await sleep(20);
    await boss.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => {});
    out.latency = latencySummary(lat, w.latencyJobs);
  }
  await boss0.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => {});
  return out;
}

// ---------------------------------------------------------------- graphile-worker
async function graphile() {
  const gw = await import("graphile-worker");
  const utilsPool = pool(10);
  const utils = await gw.makeWorkerUtils({ pgPool: utilsPool });
  await utils.migrate();
  // Tuned per the "Performance → Batching" docs: a local queue that locks a batch of jobs per
  // fetch, and batched completion/failure writes.
  const preset = tuned
    ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
    : {};
  const out = { enqueue: {}, process: {}, latency: null };
  {
    const t0 = now();
    for (let i = 0; i < w.enqueueOne; i++) await utils.addJob("one", { i });
    out.enqueue.one = w.enqueueOne / ((now() - t0) / 1000);
    await utils.withPgClient((c) => c.query("DELETE FROM graphile_worker._private_jobs"));
  }
  const fill = async () => {
    const t0 = now();
    for (let i = 0; i < w.jobs; i += w.batch) {
      const specs = [];
      for (let j = i; j < Math.min(w.jobs, i + w.batch); j++) {
        specs.push({ identifier: "noop", payload: { i: j } });
      }
      await utils.addJobs(specs);
    }
    return w.jobs / ((now() - t0) / 1000);
  };
  const remaining = async () =>
    Number(
      (await utils.withPgClient((c) =>
        c.query("SELECT count(*) AS n FROM graphile_worker._private_jobs")
      )).rows[0].n,
    );
  for (const c of w.concurrency) {
    const rate = await fill();
    out.enqueue.batch ??= rate;
    const workPool = pool(poolSize(c));
    let handled = 0;
    let first = null;
    const runner = await gw.run({
      pgPool: workPool,
      concurrency: c,
      noHandleSignals: true,
      preset,
      logger: new gw.Logger(() => () => {}),
      taskList: {
        noop: async () => {
          first ??= now();
          handled++;
        },
      },
    });
    const deadline = now() + w.capS * 1000;
    let end = null;
    while (now() < deadline) {
      if (handled >= w.jobs && (await remaining()) === 0) {
        end = now();
        break;
      }
      await sleep(handled >= w.jobs ? 5 : 20);
    }
    await runner.stop().catch(() => {});
    await workPool.end();
    const left = await remaining();
    const n = w.jobs - left;
    const elapsed = ((end ?? now()) - (first ?? now())) / 1000;
    out.process[c] = { jobsPerS: n / elapsed, completed: n, capped: n < w.jobs };
    await utils.withPgClient((cl) => cl.query("DELETE FROM graphile_worker._private_jobs"));
  }
  {
    const workPool = pool(poolSize(10));
    const sent = new Map();
    const lat = [];
    const runner = await gw.run({
      pgPool: workPool,
      concurrency: 10,
      noHandleSignals: true,
      preset,
      logger: new gw.Logger(() => () => {}),
      taskList: {
        lat: async (p) => {
          lat.push(now() - sent.get(p.i));
        },
      },
    });
    await sleep(300);
    for (let i = 0; i < w.latencyJobs; i++) {
      sent.set(i, now());
      await utils.addJob("lat", { i });
      await sleep(w.latencyGapMs);
    }
    const deadline = now() + 10_000;
    while (lat.length < w.latencyJobs && now() < deadline) await sleep(20);
    await runner.stop().catch(() => {});
    await workPool.end();
    out.latency = latencySummary(lat, w.latencyJobs);
  }
  await utils.release();
  await utilsPool.end();
  return out;
}

function latencySummary(lat, expected) {
  const s = [...lat].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    received: s.length,
    expected,
  };
}

const result = system === "pg-boss" ? await pgBoss() : await graphile();
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
