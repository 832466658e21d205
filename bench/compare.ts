/**
 * `deno task bench:compare`: Sluice against pg-boss and graphile-worker (newest npm versions,
 * bench/node/, run with the Node.js that package pins), side by side on one ephemeral
 * PostgreSQL with fsync on. Prints one table, writes bench/results/compare-<time>.json and
 * rewrites BENCHMARKS.md.
 *
 *   deno task bench:compare [--only systems,pgbench,scale] [--systems a,b,…] [--reps 3]
 *     [--jobs 20000] [--batch 1000] [--one 1000] [--concurrency 1,10,50] [--cap 15]
 *     [--latency-jobs 500] [--latency-gap 10] [--pgbench-seconds 5]
 *     [--big 1000000] [--churn 1000000] [--http-rate 500] [--http-seconds 30]
 *     [--http-warmup 3] [--push-jobs 20000] [--push-concurrency 50] [--no-write]
 *
 * Workloads (issue #8): 1 enqueue one at a time / in batches; 2 process queued no-op jobs at
 * each concurrency (first start → last completion); 3 enqueue→start latency with an idle
 * worker; 4 pgbench limits on the same cluster; 5 (Sluice only) HTTP enqueue at `--http-rate`
 * for `--http-seconds` (bench/http_enqueue.ts: `sluice api` + an open-loop load process),
 * push delivery of `--push-jobs` to a local receiver (bench/push.ts), lease latency with
 * `--big` queued and `--big` future jobs (and whether the fetch stayed on the partial index
 * `jobs_available_idx`), and throughput after churning `--churn` jobs (history kept).
 * Every system runs each repetition in a fresh database, in a rotated order, in its own
 * process; figures are medians with min–max over the repetitions.
 *
 * Options:
 *   --only              which parts run: `systems` (workloads 1–3, every `--systems` entry),
 *                       `pgbench` (4), `scale` (5); default all three. A partial run prints
 *                       its tables and writes the JSON but leaves BENCHMARKS.md alone.
 *   --systems           `sluice`, `graphile-worker:default|tuned`, `pg-boss:default|tuned`
 *   --reps              repetitions of workloads 1–3 per system
 *   --jobs / --batch    jobs per processing run / per enqueue batch (also workload 5's
 *                       fresh-vs-churned runs)
 *   --one               jobs enqueued one at a time
 *   --concurrency       processing concurrencies; --cap: seconds before a run is cut off
 *   --latency-jobs/-gap workload 3: jobs, ms between them
 *   --pgbench-seconds   length of each pgbench run
 *   --big / --churn     workload 5 at the issue's scale by default (all of workload 5: 2–4
 *                       minutes on 2 cores); pass smaller numbers for a quick run
 *   --http-rate/-seconds/-warmup   HTTP enqueue: rate, measured seconds, and seconds at the
 *                       same rate before them that count apart (a cold api's first second)
 *   --push-jobs/-concurrency       push delivery run
 *   --no-write          print only: no bench/results/*.json, no BENCHMARKS.md
 *
 * Quick check of workload 5 alone:
 *   deno task bench:compare --only scale --big 20000 --churn 20000 --http-seconds 5 --no-write
 */
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchCluster, startBenchCluster } from "./_cluster.ts";
import {
  enqueueBatchRate,
  leaseLatencyMs,
  processRate,
  type SystemFigures,
  type Workloads,
} from "./_sluice.ts";
import { fmtMs, fmtRate, median, spread } from "./_stats.ts";
import type { Sql } from "../src/db/connect.ts";
import { startMaintenance } from "../src/cli/maintenance.ts";
import { requireConfig } from "../src/config/load.ts";
import { createLogger } from "../src/obs/log.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const NOTES_MARK = "<!-- notes below are kept by bench:compare -->";
const NODE_DIR = join(HERE, "node");
const ROOT = dirname(HERE);

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    reps: { type: "string", default: "3" },
    jobs: { type: "string", default: "20000" },
    batch: { type: "string", default: "1000" },
    one: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "1,10,50" },
    cap: { type: "string", default: "15" },
    "latency-jobs": { type: "string", default: "500" },
    "latency-gap": { type: "string", default: "10" },
    "pgbench-seconds": { type: "string", default: "5" },
    big: { type: "string", default: "1000000" },
    churn: { type: "string", default: "1000000" },
    "http-rate": { type: "string", default: "500" },
    "http-seconds": { type: "string", default: "30" },
    "http-warmup": { type: "string", default: "3" },
    "push-jobs": { type: "string", default: "20000" },
    "push-concurrency": { type: "string", default: "50" },
    systems: { type: "string", default: SYSTEMS_DEFAULT() },
    only: { type: "string", default: "systems,pgbench,scale" },
    "no-write": { type: "boolean", default: false },
  },
});

function SYSTEMS_DEFAULT() {
  return "sluice,graphile-worker:default,graphile-worker:tuned,pg-boss:default,pg-boss:tuned";
}

const w: Workloads = {
  jobs: Number(values.jobs),
  batch: Number(values.batch),
  enqueueOne: Number(values.one),
  concurrency: values.concurrency.split(",").map(Number),
  capS: Number(values.cap),
  latencyJobs: Number(values["latency-jobs"]),
  latencyGapMs: Number(values["latency-gap"]),
};
const reps = Number(values.reps);
const systems = values.systems.split(",");
const PARTS = ["systems", "pgbench", "scale"];
const only = new Set(values.only.split(","));
for (const p of only) {
  if (!PARTS.includes(p)) {
    console.error(`--only takes a comma list of ${PARTS.join(", ")}, not "${p}"`);
    Deno.exit(2);
  }
}
const complete = PARTS.every((p) => only.has(p));
const log = (s: string) => console.error(`[compare] ${s}`);

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...opts })
    .output();
  const stdout = new TextDecoder().decode(out.stdout),
    stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ").slice(0, 200)} failed:\n${stderr}\n${stdout}`);
  }
  return stdout;
}

async function ensureCompetitors(): Promise<Record<string, string>> {
  try {
    await Deno.stat(join(NODE_DIR, "node_modules/.bin/node"));
  } catch {
    log("installing competitors into bench/node (npm ci)");
    await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: NODE_DIR });
  }
  const version = async (p: string) =>
    JSON.parse(await Deno.readTextFile(join(NODE_DIR, "node_modules", p, "package.json"))).version;
  return {
    "pg-boss": await version("pg-boss"),
    "graphile-worker": await version("graphile-worker"),
    node: (await run(join(NODE_DIR, "node_modules/.bin/node"), ["--version"])).trim(),
  };
}

async function runSystem(bc: BenchCluster, system: string): Promise<SystemFigures> {
  const [name, mode = "default"] = system.split(":");
  const database = await bc.createDatabase(
    name === "sluice" ? await bc.sluiceTemplate() : undefined,
  );
  const db = { host: bc.host, port: bc.port, user: bc.user, database };
  try {
    if (name === "sluice") {
      const out = await run(Deno.execPath(), [
        "run",
        "-A",
        join(HERE, "_sluice_child.ts"),
        JSON.stringify({ db, w }),
      ], {
        cwd: ROOT,
        env: { NO_COLOR: "1" },
      });
      return JSON.parse(out.trim().split("\n").pop()!);
    }
    const out = await run(join(NODE_DIR, "node_modules/.bin/node"), [
      "run.mjs",
      JSON.stringify({ system: name, mode, db, w }),
    ], {
      cwd: NODE_DIR,
    });
    return JSON.parse(out.trim().split("\n").pop()!);
  } finally {
    await bc.dropDatabase(database);
  }
}

// ------------------------------------------------------------------ pgbench (workload 4)
interface PgbenchFigures {
  insert1: number;
  insert50: number;
  cycle1: number;
  cycle100: number;
}

async function pgbench(bc: BenchCluster): Promise<PgbenchFigures> {
  const database = await bc.createDatabase();
  const sql = bc.connect(database, 1);
  const dir = await Deno.makeTempDir({ prefix: "sluice-pgbench-" });
  const seconds = values["pgbench-seconds"];
  // Beside pg_ctl when that is the real bin directory; else the PATH one (Debian's wrapper).
  const bin = await Deno.stat(join(bc.pgBin, "pgbench")).then(
    () => join(bc.pgBin, "pgbench"),
    () => "pgbench",
  );
  const pgb = async (file: string, clients: number, defs: string[] = []) => {
    const out = await run(bin, [
      "-h",
      bc.host,
      "-p",
      String(bc.port),
      "-U",
      bc.user,
      "-n",
      "-c",
      String(clients),
      "-j",
      String(Math.min(clients, 2)),
      "-T",
      seconds,
      "-f",
      file,
      ...defs,
      database,
    ]);
    const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
    // Under heavy load a short run may finish before 50 clients even connect: report no figure.
    if (!m) log(`pgbench gave no TPS (too short a run?):\n${out}`);
    if (!m) return NaN;
    return Number(m[1]);
  };
  try {
    // The same shape of row an enqueue writes: identity key, text, jsonb, timestamp.
    await sql.unsafe(`
      CREATE TABLE pgb_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE pgb_jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        state text NOT NULL, locked_by int, finished_at timestamptz);
      CREATE INDEX pgb_jobs_available ON pgb_jobs (id) WHERE state = 'available';
      CREATE INDEX pgb_jobs_running ON pgb_jobs (locked_by) WHERE state = 'running';`);
    await Deno.writeTextFile(
      `${dir}/insert.sql`,
      `INSERT INTO pgb_insert (kind, payload) VALUES ('noop', '{}');\n`,
    );
    // The minimal lease+complete cycle: pick :n available rows skipping locked ones, mark them
    // running, then succeeded, in one transaction.
    await Deno.writeTextFile(
      `${dir}/cycle.sql`,
      `BEGIN;
WITH p AS (SELECT id FROM pgb_jobs WHERE state = 'available' ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) UPDATE pgb_jobs j SET state = 'running', locked_by = :client_id FROM p WHERE j.id = p.id;
UPDATE pgb_jobs SET state = 'succeeded', finished_at = now(), locked_by = NULL WHERE state = 'running' AND locked_by = :client_id;
COMMIT;
`,
    );
    const fill = async (rows: number) => {
      await sql.unsafe(
        `TRUNCATE pgb_jobs; INSERT INTO pgb_jobs (state) SELECT 'available' FROM generate_series(1, ${rows});`,
      );
      await sql.unsafe(`VACUUM ANALYZE pgb_jobs`);
    };
    const insert1 = await pgb(`${dir}/insert.sql`, 1);
    const insert50 = await pgb(`${dir}/insert.sql`, 50);
    await fill(Math.max(100_000, Number(seconds) * 15_000));
    const cycle1 = await pgb(`${dir}/cycle.sql`, 10, ["-D", "n=1"]);
    await fill(Math.max(500_000, Number(seconds) * 120_000));
    const cycle100 = (await pgb(`${dir}/cycle.sql`, 10, ["-D", "n=100"])) * 100;
    return { insert1, insert50, cycle1, cycle100 };
  } finally {
    await sql.end();
    await bc.dropDatabase(database);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

// ------------------------------------------------------------------ Sluice only (workload 5)
/** bench/http_enqueue.ts's last stdout line. */
interface HttpFigures {
  requests: number;
  ok: number;
  failed: number;
  seconds: number;
  enqueuesPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** The first seconds after the api started, at the same rate, not in the figures above. */
  warmupSeconds: number;
  warmupFailed: number;
  warmupP95Ms: number;
  warmupMaxMs: number;
}

/** bench/push.ts's last stdout line. */
interface PushFigures {
  jobs: number;
  concurrency: number;
  seconds: number;
  jobsPerS: number;
  failed: number;
  meanAttemptMs: number;
  meanPostMs: number;
}

interface ScaleFigures {
  big: number;
  leaseMsSmall: number;
  leaseMsBig: number;
  /** Scans during the samples at `big`: the lease's index, and whole-table scans of jobs. */
  leaseScans: { availableIdx: number; seq: number; samples: number };
  churn: number;
  freshJobsPerS: number;
  churnedJobsPerS: number;
  freshRuns: number[];
  churnedRuns: number[];
  afterChurn: TableState;
  /** `rate` asked for; null figures when the run failed (its error is in `errors`). */
  http: (HttpFigures & { rate: number }) | null;
  push: PushFigures | null;
  errors: string[];
}

const lastJsonLine = <T>(out: string): T => JSON.parse(out.trim().split("\n").pop()!);

/** HTTP enqueue: `sluice api` on a fresh clone of the Sluice template of this durable cluster. */
async function httpEnqueue(bc: BenchCluster): Promise<HttpFigures & { rate: number }> {
  const rate = Number(values["http-rate"]);
  const database = await bc.createDatabase(await bc.sluiceTemplate());
  try {
    const out = await run(Deno.execPath(), [
      "run",
      "-A",
      join(HERE, "http_enqueue.ts"),
      "--rate",
      String(rate),
      "--seconds",
      values["http-seconds"],
      "--warmup",
      values["http-warmup"],
    ], { cwd: ROOT, env: { DATABASE_URL: bc.url(database), NO_COLOR: "1" } });
    return { ...lastJsonLine<HttpFigures>(out), rate };
  } finally {
    await bc.dropDatabase(database);
  }
}

/** Push delivery: bench/push.ts clones its database from our template on this cluster. */
async function pushDelivery(bc: BenchCluster): Promise<PushFigures> {
  const out = await run(Deno.execPath(), [
    "run",
    "-A",
    join(HERE, "push.ts"),
    "--jobs",
    values["push-jobs"],
    "--concurrency",
    values["push-concurrency"],
  ], {
    cwd: ROOT,
    env: {
      SLUICE_TEST_DATABASE_URL: bc.adminUrl,
      SLUICE_TEST_TEMPLATE: await bc.sluiceTemplate(),
      NO_COLOR: "1",
    },
  });
  return lastJsonLine<PushFigures>(out);
}

/** A failed side run is recorded, not fatal: the minutes spent on the rest are kept. */
async function attempt<T>(what: string, errors: string[], f: () => Promise<T>) {
  const t0 = performance.now();
  try {
    const r = await f();
    log(`${what}: ${Math.round((performance.now() - t0) / 1000)} s`);
    return r;
  } catch (e) {
    log(`${what} failed: ${e instanceof Error ? e.message : e}`);
    errors.push(`${what}: ${String(e instanceof Error ? e.message : e).split("\n")[0]}`);
    return null;
  }
}

/** Lease+complete latency with 10,000 queued, then `big` queued + `big` scheduled. */
async function leaseAtScale(bc: BenchCluster, big: number) {
  const database = await bc.createDatabase(await bc.sluiceTemplate());
  const sql = bc.connect(database);
  // Lease samples on one connection, so its statistics can be flushed and read back (below).
  const one = bc.connect(database, 1);
  try {
    const t0 = performance.now();
    const bulk = async (n: number, future: boolean) => {
      // Straight SQL for the millions: this measures leasing, not enqueue.
      await sql`
        INSERT INTO sluice.jobs (queue, kind, payload, state, run_at, max_attempts)
        SELECT 'default', 'sluice.noop', '{}', ${future ? "scheduled" : "available"},
          now() + ${future ? 86_400_000 : 0} * interval '1 millisecond', 5
        FROM generate_series(1, ${n})`;
      await sql`VACUUM ANALYZE sluice.jobs`;
    };
    // Index and sequential scans of sluice.jobs so far, as the statistics system has them
    // after `one` flushed its pending counters (PostgreSQL 15+ batches them per backend).
    const scans = async () => {
      await one`SELECT pg_stat_force_next_flush()`;
      // The flush happens as that backend goes idle; a second statement proves it went idle.
      await one`SELECT 1`;
      const [r] = await sql<[{ idx: string; seq: string }]>`
        SELECT (SELECT idx_scan FROM pg_stat_user_indexes
                WHERE schemaname = 'sluice' AND indexrelname = 'jobs_available_idx')::text AS idx,
          (SELECT seq_scan FROM pg_stat_user_tables
           WHERE schemaname = 'sluice' AND relname = 'jobs')::text AS seq`;
      return { idx: Number(r.idx), seq: Number(r.seq) };
    };
    const samples = 200;
    await bulk(10_000, false);
    const leaseMsSmall = await leaseLatencyMs(one, samples);
    await bulk(big - 10_000, false);
    await bulk(big, true);
    log(`${big} queued + ${big} future inserted: ${Math.round((performance.now() - t0) / 1000)} s`);
    const before = await scans();
    const leaseMsBig = await leaseLatencyMs(one, samples);
    const after = await scans();
    return {
      big,
      leaseMsSmall,
      leaseMsBig,
      leaseScans: { availableIdx: after.idx - before.idx, seq: after.seq - before.seq, samples },
    };
  } finally {
    await one.end();
    await sql.end();
    await bc.dropDatabase(database);
  }
}

/**
 * A fresh table (a new clone of the template) vs the same table after `churn` jobs went
 * through it, history kept. The fresh run is not this process's first Worker: a warm-up
 * run comes first and is deleted, so cold JIT does not flatter the churned figure.
 */
interface TableState {
  liveTuples: number;
  deadTuples: number;
  autovacuums: number;
  /** By the maintenance `vacuum` service. */
  vacuums: number;
  autoanalyzes: number;
  totalMb: number;
  vacuumRunning: number;
}

/** Three runs of `w.jobs` at concurrency 50: one run is too noisy on a shared 2-core box. */
async function median3(sql: Sql) {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    await enqueueBatchRate(sql, w.jobs, w.batch);
    runs.push(Math.round((await processRate(sql, 50, w.jobs, 60)).jobsPerS));
  }
  return { median: median(runs), runs };
}

async function churnRates(bc: BenchCluster, churn: number) {
  const database = await bc.createDatabase(await bc.sluiceTemplate());
  const sql = bc.connect(database);
  // As deployed (`sluice up`, or a `sluice maintenance` unit beside the workers): the maintenance
  // loop with every default runs throughout, fresh runs included. Its `vacuum` service is what
  // keeps the hot table clean between autovacuum visits (src/maintenance/vacuum.ts).
  const maintenance = startMaintenance(
    sql,
    requireConfig({ SLUICE_WORKER_ID: "bench-maintenance" }).config,
    createLogger({ role: "maintenance", level: "error", write: (l) => console.error(l) }),
  );
  try {
    await enqueueBatchRate(sql, w.jobs, w.batch);
    await processRate(sql, 50, w.jobs, 60);
    await sql`DELETE FROM sluice.jobs`;
    await sql`VACUUM ANALYZE sluice.jobs`;
    const fresh = await median3(sql);
    const t0 = performance.now();
    for (let done = 0; done < churn; done += 50_000) {
      const n = Math.min(50_000, churn - done);
      await enqueueBatchRate(sql, n, 5_000);
      await processRate(sql, 50, n, 600);
    }
    log(`churned ${churn}: ${Math.round((performance.now() - t0) / 1000)} s`);
    // The table as the churned runs find it: bloat and whether autovacuum is at work on it.
    const [table] = await sql<[TableState]>`
      SELECT n_live_tup::int AS "liveTuples", n_dead_tup::int AS "deadTuples",
        autovacuum_count::int AS "autovacuums", vacuum_count::int AS "vacuums",
        autoanalyze_count::int AS "autoanalyzes",
        (pg_total_relation_size('sluice.jobs') / 1048576)::int AS "totalMb",
        (SELECT count(*)::int FROM pg_stat_progress_vacuum
         WHERE relid = 'sluice.jobs'::regclass) AS "vacuumRunning"
      FROM pg_stat_user_tables WHERE relid = 'sluice.jobs'::regclass`;
    const churned = await median3(sql);
    return {
      churn,
      freshJobsPerS: fresh.median,
      churnedJobsPerS: churned.median,
      freshRuns: fresh.runs,
      churnedRuns: churned.runs,
      afterChurn: table,
    };
  } finally {
    await maintenance.stop();
    await sql.end();
    await bc.dropDatabase(database);
  }
}

async function scale(bc: BenchCluster): Promise<ScaleFigures> {
  const errors: string[] = [];
  const http = await attempt("HTTP enqueue", errors, () => httpEnqueue(bc));
  const push = await attempt("push delivery", errors, () => pushDelivery(bc));
  const lease = await leaseAtScale(bc, Number(values.big));
  const churn = await churnRates(bc, Number(values.churn));
  return { ...lease, ...churn, http, push, errors };
}

// ------------------------------------------------------------------ main
async function machine(bc: BenchCluster) {
  const free = await run("free", ["-h"]).catch(() => "");
  return {
    nproc: (await run("nproc", [])).trim(),
    free: free.trim(),
    cpu: (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(/model name\s*:\s*(.*)/)
      ?.[1] ?? "",
    postgres: await bc.serverVersion(),
    fsync: "on (server defaults: fsync, synchronous_commit, full_page_writes on)",
    deno: Deno.version.deno,
  };
}

const competitors = only.has("systems") && systems.some((s) => s !== "sluice");
const versions: Record<string, string> = competitors ? await ensureCompetitors() : {};
if (competitors) {
  log(
    `competitors: pg-boss ${versions["pg-boss"]}, graphile-worker ${
      versions["graphile-worker"]
    } on Node ${versions.node}`,
  );
}
const bc = await startBenchCluster();
const startedAt = new Date();
try {
  const env = await machine(bc);
  const runs: Record<string, SystemFigures[]> = only.has("systems")
    ? Object.fromEntries(systems.map((s) => [s, []]))
    : {};
  for (let rep = 0; rep < reps && only.has("systems"); rep++) {
    // Rotate the order each repetition so no system always runs first (or last).
    const order = systems.map((_, i) => systems[(i + rep) % systems.length]!);
    for (const s of order) {
      const t0 = performance.now();
      runs[s]!.push(await runSystem(bc, s));
      log(`rep ${rep + 1}/${reps} ${s}: ${Math.round((performance.now() - t0) / 1000)} s`);
    }
  }
  let pg: PgbenchFigures | null = null, sc: ScaleFigures | null = null;
  if (only.has("pgbench")) {
    log("pgbench");
    pg = await pgbench(bc);
  }
  if (only.has("scale")) {
    log("Sluice at scale");
    const t0 = performance.now();
    sc = await scale(bc);
    log(`Sluice at scale: ${Math.round((performance.now() - t0) / 1000)} s`);
  }
  const summary = summarize(runs);
  const table = renderTable(summary, pg, sc);
  console.log(table);
  const command = `deno task bench:compare ${Deno.args.join(" ")}`.trim();
  if (!values["no-write"]) {
    const result = {
      startedAt,
      command,
      machine: env,
      versions,
      workloads: w,
      reps,
      runs,
      summary,
      only: [...only],
      pgbench: pg,
      scale: sc,
    };
    await Deno.mkdir(join(HERE, "results"), { recursive: true });
    const file = join(
      HERE,
      "results",
      `compare-${startedAt.toISOString().replaceAll(":", "-")}.json`,
    );
    await Deno.writeTextFile(file, JSON.stringify(result, null, 2) + "\n");
    if (complete) {
      // Hand-written notes below NOTES_MARK survive the rewrite (why a target is missed, A/B
      // figures of a change); everything above it is this run's.
      const path = join(ROOT, "BENCHMARKS.md");
      const old = await Deno.readTextFile(path).catch(() => "");
      const at = old.indexOf(NOTES_MARK);
      const notes = at >= 0 ? old.slice(at) : `${NOTES_MARK}\n`;
      await Deno.writeTextFile(path, `${renderMarkdown(table, env, versions, command)}\n${notes}`);
      // Keep `deno fmt --check` clean for the generated file.
      await run(Deno.execPath(), ["fmt", join(ROOT, "BENCHMARKS.md")]).catch(() => {});
    }
    log(`wrote ${file}${complete ? " and BENCHMARKS.md" : " (partial run: BENCHMARKS.md kept)"}`);
  }
} finally {
  await bc.stop();
}

type Spread = ReturnType<typeof spread>;
interface Summary {
  [system: string]: {
    one: Spread;
    batch: Spread;
    process: Record<string, Spread & { capped: boolean }>;
    p50: Spread;
    p95: Spread;
    p99: Spread;
    lost: number;
  };
}

function summarize(runs: Record<string, SystemFigures[]>): Summary {
  const out: Summary = {};
  for (const [s, rs] of Object.entries(runs)) {
    const lat = (k: "p50" | "p95" | "p99") => spread(rs.map((r) => r.latency?.[k] ?? NaN));
    out[s] = {
      one: spread(rs.map((r) => r.enqueue.one ?? NaN)),
      batch: spread(rs.map((r) => r.enqueue.batch ?? NaN)),
      process: Object.fromEntries(
        w.concurrency.map((c) => [String(c), {
          ...spread(rs.map((r) => r.process[String(c)]?.jobsPerS ?? NaN)),
          capped: rs.some((r) => r.process[String(c)]?.capped),
        }]),
      ),
      p50: lat("p50"),
      p95: lat("p95"),
      p99: lat("p99"),
      lost: Math.max(...rs.map((r) => (r.latency ? r.latency.expected - r.latency.received : 0))),
    };
  }
  return out;
}

function renderTable(sum: Summary, pg: PgbenchFigures | null, sc: ScaleFigures | null): string {
  const names = Object.keys(sum);
  const cell = (x: Spread, f: (n: number) => string) => `${f(x.median)} (${f(x.min)}–${f(x.max)})`;
  const mdTable = (rows: string[][]) =>
    [rows[0]!, rows[0]!.map(() => "---"), ...rows.slice(1)].map((r) => `| ${r.join(" | ")} |`)
      .join("\n");
  const rows: string[][] = [];
  rows.push(["enqueue one at a time, jobs/s", ...names.map((n) => cell(sum[n]!.one, fmtRate))]);
  rows.push([
    `enqueue batches of ${w.batch}, jobs/s`,
    ...names.map((n) => cell(sum[n]!.batch, fmtRate)),
  ]);
  for (const c of w.concurrency) {
    rows.push([
      `process ${w.jobs} at concurrency ${c}, jobs/s`,
      ...names.map((n) => {
        const p = sum[n]!.process[String(c)]!;
        return cell(p, fmtRate) + (p.capped ? ` [capped ${w.capS} s]` : "");
      }),
    ]);
  }
  for (const k of ["p50", "p95", "p99"] as const) {
    rows.push([
      `enqueue→start ${k}, ms`,
      ...names.map((n) =>
        cell(sum[n]![k], fmtMs) +
        (k === "p99" && sum[n]!.lost ? ` [${sum[n]!.lost} not started]` : "")
      ),
    ]);
  }
  const md = names.length
    ? mdTable([["workload (median (min–max) of " + reps + ")", ...names], ...rows])
    : "";

  const sl = sum["sluice"];
  const gwT = sum["graphile-worker:tuned"];
  const defaults = names.filter((n) => n.endsWith(":default"));
  const best = (f: (s: Summary[string]) => number, among: string[]) =>
    Math.max(...among.map((n) => f(sum[n]!)));
  const competitors = names.filter((n) => n !== "sluice");
  const t: string[][] = [];
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  if (sl && gwT) {
    for (const c of ["10", "50"]) {
      const s = sl.process[c]?.median ?? NaN, g = gwT.process[c]?.median ?? NaN;
      t.push([
        `process at ${c} ≥ 1.5× graphile-worker tuned`,
        `${fmtRate(s)} vs ${fmtRate(g)} = ${(s / g).toFixed(2)}×`,
        verdict(s >= 1.5 * g),
      ]);
      if (defaults.length) {
        const d = best((x) => x.process[c]?.median ?? 0, defaults);
        t.push([
          `process at ${c} ≥ 10× best default`,
          `${fmtRate(s)} vs ${fmtRate(d)} = ${(s / d).toFixed(1)}×`,
          verdict(s >= 10 * d),
        ]);
      }
    }
  }
  if (sl && competitors.length) {
    const b = best((x) => x.batch.median, competitors);
    t.push([
      "batch enqueue ≥ 2× best competitor",
      `${fmtRate(sl.batch.median)} vs ${fmtRate(b)} = ${(sl.batch.median / b).toFixed(2)}×`,
      verdict(sl.batch.median >= 2 * b),
    ]);
  }
  if (sl && pg) {
    t.push([
      "one-at-a-time enqueue ≥ 75% of pgbench 1-client insert",
      `${fmtRate(sl.one.median)} vs ${fmtRate(pg.insert1)} = ${
        Math.round(100 * sl.one.median / pg.insert1)
      }%`,
      verdict(sl.one.median >= 0.75 * pg.insert1),
    ]);
  }
  if (sl?.process["50"]) {
    t.push([
      "process at 50 ≥ 10,000 jobs/s (issue #2)",
      fmtRate(sl.process["50"].median),
      verdict(sl.process["50"].median >= 10_000),
    ]);
  }
  if (sl && gwT) {
    for (const k of ["p50", "p99"] as const) {
      t.push([
        `latency ${k} ≤ graphile-worker tuned`,
        `${fmtMs(sl[k].median)} vs ${fmtMs(gwT[k].median)} ms`,
        verdict(sl[k].median <= gwT[k].median),
      ]);
    }
  }
  if (sc) {
    const big = sc.big.toLocaleString("en-US");
    t.push([
      `lease latency flat (≤2×) from 10,000 to ${big} queued (+ as many future)`,
      `${fmtMs(sc.leaseMsSmall)} → ${fmtMs(sc.leaseMsBig)} ms`,
      verdict(sc.leaseMsBig <= 2 * sc.leaseMsSmall),
    ]);
    t.push([
      `lease at ${big} queued stays on the partial index jobs_available_idx`,
      `${sc.leaseScans.availableIdx} index scans, ${sc.leaseScans.seq} sequential scans of jobs ` +
      `in ${sc.leaseScans.samples} lease+complete`,
      verdict(sc.leaseScans.availableIdx >= sc.leaseScans.samples && sc.leaseScans.seq === 0),
    ]);
    t.push([
      `throughput after churning ${sc.churn.toLocaleString("en-US")} jobs ≥ 80% of fresh (c=50)`,
      `${fmtRate(sc.churnedJobsPerS)} vs ${fmtRate(sc.freshJobsPerS)} = ${
        Math.round(100 * sc.churnedJobsPerS / sc.freshJobsPerS)
      }%`,
      verdict(sc.churnedJobsPerS >= 0.8 * sc.freshJobsPerS),
    ]);
    t.push([
      `HTTP enqueue at ${values["http-rate"]}/s p95 ≤ 50 ms (issue #3)`,
      sc.http
        ? `${fmtMs(sc.http.p95Ms)} ms at ${fmtRate(sc.http.enqueuesPerSecond)}/s` +
          (sc.http.failed ? `, ${sc.http.failed} failed` : "")
        : "failed (see errors)",
      verdict(
        !!sc.http && sc.http.p95Ms <= 50 && sc.http.failed === 0 &&
          sc.http.enqueuesPerSecond >= 0.95 * sc.http.rate,
      ),
    ]);
  }
  const tmd = t.length ? mdTable([["target (Sluice default)", "figures", "verdict"], ...t]) : "";

  const pgmd = pg
    ? [
      "| pgbench on the same cluster | figure |",
      "| --- | --- |",
      `| single-row insert, 1 client, TPS | ${fmtRate(pg.insert1)} |`,
      `| single-row insert, 50 clients, TPS | ${fmtRate(pg.insert50)} |`,
      `| lease+complete, 1 job per transaction (10 clients), jobs/s | ${fmtRate(pg.cycle1)} |`,
      `| lease+complete, 100 jobs per transaction (10 clients), jobs/s | ${fmtRate(pg.cycle100)} |`,
    ].join("\n")
    : "";
  const frac = sl && pg
    ? `Sluice as a fraction of PostgreSQL here: one-at-a-time enqueue ${
      Math.round(100 * sl.one.median / pg.insert1)
    }% of 1-client insert TPS; ` +
      `processing at 50 ${
        Math.round(100 * (sl.process["50"]?.median ?? NaN) / pg.cycle100)
      }% of the 100-per-transaction cycle; ` +
      `at 10 ${Math.round(100 * (sl.process["10"]?.median ?? NaN) / pg.cycle100)}%.`
    : "";
  let scmd = "";
  if (sc) {
    const big = sc.big.toLocaleString("en-US");
    const h = sc.http, p = sc.push;
    scmd = mdTable([
      ["Sluice at scale", "figure"],
      [`lease+complete one job, median ms, 10,000 queued`, fmtMs(sc.leaseMsSmall)],
      [`same, ${big} queued + ${big} future`, fmtMs(sc.leaseMsBig)],
      [
        `process ${w.jobs} at 50, fresh table, jobs/s, median of 3 (runs)`,
        `${fmtRate(sc.freshJobsPerS)} (${sc.freshRuns.map(fmtRate).join(", ")})`,
      ],
      [
        `same after churning ${sc.churn.toLocaleString("en-US")} jobs (history kept), jobs/s`,
        `${fmtRate(sc.churnedJobsPerS)} (${sc.churnedRuns.map(fmtRate).join(", ")})`,
      ],
      [
        `jobs table after the churn: live / dead tuples, MB with indexes, autovacuums + maintenance vacuums so far`,
        `${sc.afterChurn.liveTuples.toLocaleString("en-US")} / ${
          sc.afterChurn.deadTuples.toLocaleString("en-US")
        }, ${sc.afterChurn.totalMb} MB, ${sc.afterChurn.autovacuums} + ${
          sc.afterChurn.vacuums ?? 0
        }` +
        (sc.afterChurn.vacuumRunning ? " (one running)" : ""),
      ],
      [
        `HTTP enqueue (\`sluice api\`, open loop) at ${values["http-rate"]}/s for ${
          values["http-seconds"]
        } s: achieved/s`,
        h ? fmtRate(h.enqueuesPerSecond) + (h.failed ? ` (${h.failed} failed)` : "") : "failed",
      ],
      [
        `same, latency p50 / p95 / p99, ms`,
        h ? [h.p50Ms, h.p95Ms, h.p99Ms].map(fmtMs).join(" / ") : "—",
      ],
      [
        `same, the api's first ${
          values["http-warmup"]
        } s at that rate (warm-up, apart): p95 / max, ms`,
        h
          ? `${fmtMs(h.warmupP95Ms)} / ${fmtMs(h.warmupMaxMs)}` +
            (h.warmupFailed ? ` (${h.warmupFailed} failed)` : "")
          : "—",
      ],
      [
        `push delivery of ${values["push-jobs"]} to a local receiver at concurrency ${
          values["push-concurrency"]
        }, jobs/s`,
        p ? fmtRate(p.jobsPerS) + (p.failed ? ` (${p.failed} with errors)` : "") : "failed",
      ],
      [
        `same, mean attempt / of which POST, ms`,
        p ? `${fmtMs(p.meanAttemptMs)} / ${fmtMs(p.meanPostMs)}` : "—",
      ],
      ...sc.errors.map((e) => [`error`, e.replaceAll("|", "\\|")]),
    ]);
  }
  return [md, [pgmd, frac].filter(Boolean).join("\n\n"), scmd, tmd].filter(Boolean).join(
    "\n\n",
  ) + "\n";
}

function renderMarkdown(
  table: string,
  env: Awaited<ReturnType<typeof machine>>,
  v: Record<string, string>,
  command: string,
) {
  return `# Benchmarks

Latest \`deno task bench:compare\` run (rewritten by it). Each repetition gives every system a
fresh database on one ephemeral PostgreSQL with fsync on; systems run in a rotated order, each
in its own process (Sluice under Deno, competitors under Node); cells are median (min–max).
Processing is first start → last completion from the database (graphile-worker deletes finished
jobs, so for it: first handler call → the job table seen empty by a 5 ms poll). A processing run
is capped at ${w.capS} s; a capped cell's rate is completed jobs / elapsed.

Settings: **default** = the library's defaults (pool of max(10, concurrency + 2) connections
for everyone). **graphile-worker tuned** = \`localQueue.size: 500\`, \`completeJobBatchDelay: 0\`,
\`failJobBatchDelay: 0\` (its "Performance → Batching" docs). **pg-boss tuned** =
\`batchSize: 100\`, \`burstWhenBatchFull\`, \`useListenNotify\` + queue \`notify: true\`.
Concurrency c = graphile-worker \`concurrency: c\`, pg-boss \`localConcurrency: c\`, Sluice
\`SLUICE_CONCURRENCY=c\`. Sluice runs with every default (lease 30 s, poll 1 s).

Command: \`${command}\`

Versions: pg-boss ${v["pg-boss"]}, graphile-worker ${v["graphile-worker"]}, Node ${v.node},
Deno ${env.deno}, PostgreSQL ${env.postgres} (${env.fsync}).

Machine: \`nproc\` = ${env.nproc}, ${env.cpu}

\`\`\`
${env.free}
\`\`\`

${table}`;
}
