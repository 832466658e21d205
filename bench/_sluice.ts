/**
 * Sluice's side of the workloads, in its default configuration: the real engine functions and
 * the real `Worker`, one process enqueuing and working (as the competitors run in bench/node).
 */
import type { Sql } from "../src/db/connect.ts";
import { type EnqueueInput, enqueueJob, enqueueJobs } from "../src/queue/enqueue.ts";
import { Engine } from "../src/queue/engine.ts";
import { leaseJobs } from "../src/queue/lease.ts";
import { completeJobs } from "../src/queue/outcome.ts";
import { handlerMap } from "../src/worker/handlers.ts";
import { Worker, type WorkerOptions } from "../src/worker/worker.ts";

export interface Workloads {
  /** Jobs per processing run and per batch-enqueue measurement. */
  jobs: number;
  batch: number;
  /** Sequential single-job enqueues. */
  enqueueOne: number;
  concurrency: number[];
  /** A processing run stops after this many seconds (then completed/elapsed is reported). */
  capS: number;
  latencyJobs: number;
  latencyGapMs: number;
}

export interface ProcessFigure {
  jobsPerS: number;
  completed: number;
  capped: boolean;
}

export interface LatencyFigure {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  received: number;
  expected: number;
}

export interface SystemFigures {
  enqueue: { one?: number; batch?: number };
  process: Record<string, ProcessFigure>;
  latency: LatencyFigure | null;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Worker settings as `sluice worker` resolves them with nothing set (src/config/vars/worker.ts). */
export const DEFAULT_WORKER = { leaseMs: 30_000, pollMs: 1_000, shutdownGraceMs: 30_000 };

export async function enqueueOneRate(sql: Sql, n: number): Promise<number> {
  // As the api role enqueues: through its engine's policy cache.
  const { policies } = new Engine(sql);
  const t0 = now();
  for (let i = 0; i < n; i++) {
    await enqueueJob(sql, { kind: "sluice.noop", payload: { i } }, { policies });
  }
  return n / ((now() - t0) / 1000);
}

export async function enqueueBatchRate(
  sql: Sql,
  n: number,
  batch: number,
  kind = "sluice.noop",
  keys = 0,
): Promise<number> {
  const { policies } = new Engine(sql);
  const t0 = now();
  for (let i = 0; i < n; i += batch) {
    const inputs: EnqueueInput[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      // With keys, jobs take the keys in turn (bench --keys): the keyed lease path.
      const concurrencyKey = keys > 0 ? `key:${j % keys}` : undefined;
      inputs.push({ kind, payload: { i: j }, concurrencyKey });
    }
    await enqueueJobs(sql, inputs, { policies });
  }
  return n / ((now() - t0) / 1000);
}

/**
 * Processes what is available with a real Worker at `concurrency`; the rate is measured from
 * the database: min(started_at) to max(finished_at) of the jobs that succeeded in this run.
 */
export async function processRate(
  sql: Sql,
  concurrency: number,
  expected: number,
  capS: number,
  extra: Partial<WorkerOptions> = {},
): Promise<ProcessFigure> {
  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((r) => (finished = r));
  const [{ from }] = await sql<[{ from: string }]>`
    SELECT coalesce(max(id), 0)::text AS from FROM sluice.jobs WHERE state = 'succeeded'`;
  const worker = new Worker({
    sql,
    workerId: `bench-${concurrency}-${crypto.randomUUID().slice(0, 8)}`,
    queues: null,
    concurrency,
    ...DEFAULT_WORKER,
    ...extra,
    onAttempt: (e) => {
      if (e.status === "succeeded" && ++done >= expected) finished();
    },
  });
  await worker.start();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cap = new Promise<void>((r) => (timer = setTimeout(r, capS * 1000)));
  await Promise.race([allDone, cap]);
  clearTimeout(timer);
  await worker.stop();
  const [r] = await sql<[{ n: number; ms: number | null }]>`
    SELECT count(*)::int AS n,
      (extract(epoch FROM max(finished_at) - min(started_at)) * 1000)::float8 AS ms
    FROM sluice.jobs WHERE state = 'succeeded' AND id > ${from}`;
  return { jobsPerS: r.n / ((r.ms ?? 0) / 1000), completed: r.n, capped: r.n < expected };
}

/** Enqueue→start latency with an idle worker: one job per `gapMs`, send to handler start. */
export async function latency(sql: Sql, jobs: number, gapMs: number): Promise<LatencyFigure> {
  const sent = new Map<number, number>();
  const lat: number[] = [];
  const worker = new Worker({
    sql,
    workerId: `bench-latency-${crypto.randomUUID().slice(0, 8)}`,
    queues: null,
    concurrency: 10,
    ...DEFAULT_WORKER,
    handlers: handlerMap({
      "bench.latency": (p) => {
        lat.push(now() - sent.get((p as { i: number }).i)!);
      },
    }),
  });
  await worker.start();
  await sleep(300);
  for (let i = 0; i < jobs; i++) {
    sent.set(i, now());
    await enqueueJob(sql, { kind: "bench.latency", payload: { i } });
    await sleep(gapMs);
  }
  const deadline = now() + 10_000;
  while (lat.length < jobs && now() < deadline) await sleep(20);
  await worker.stop();
  return summarize(lat, jobs);
}

export function summarize(lat: number[], expected: number): LatencyFigure {
  const s = [...lat].sort((a, b) => a - b);
  const pct = (p: number) =>
    s.length === 0
      ? null
      : s[Math.max(0, Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1))]!;
  return { p50: pct(50), p95: pct(95), p99: pct(99), received: s.length, expected };
}

/** Workloads 1–3 in one database, in the same order as bench/node/run.mjs runs them. */
export async function runSluiceWorkloads(sql: Sql, w: Workloads): Promise<SystemFigures> {
  const out: SystemFigures = { enqueue: {}, process: {}, latency: null };
  out.enqueue.one = await enqueueOneRate(sql, w.enqueueOne);
  await sql`DELETE FROM sluice.jobs`;
  for (const c of w.concurrency) {
    const rate = await enqueueBatchRate(sql, w.jobs, w.batch);
    out.enqueue.batch ??= rate;
    out.process[String(c)] = await processRate(sql, c, w.jobs, w.capS);
    // A capped run leaves a backlog: drop it so the next run (and the latency run, which would
    // otherwise queue behind it) starts empty, as the competitors' runs do.
    await sql`DELETE FROM sluice.jobs WHERE state <> 'succeeded'`;
  }
  out.latency = await latency(sql, w.latencyJobs, w.latencyGapMs);
  return out;
}

/**
 * Lease latency (workload 5): median time of leasing then completing one job, with `queued`
 * available jobs ahead and `future` scheduled ones beside them.
 */
export async function leaseLatencyMs(sql: Sql, samples: number): Promise<number> {
  const times: number[] = [];
  const { leaseTokens } = new Engine(sql);
  for (let i = 0; i < samples; i++) {
    const t0 = now();
    const jobs = await leaseJobs(sql, {
      queue: "default",
      workerId: "bench",
      max: 1,
      leaseMs: 30_000,
      tokens: leaseTokens,
    });
    times.push(now() - t0);
    await completeJobs(sql, jobs);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
