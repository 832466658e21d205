/**
 * `deno task soak [--minutes 10] [--rate 200] [--workers 2] [--archive-after 30s]`: a soak run,
 * not part of CI. On its own PostgreSQL (production durability) it starts `sluice api`,
 * `--workers` × `sluice worker` and `sluice maintenance` as separate processes, enqueues
 * `--rate` jobs/s over HTTP (open loop, one job per request) for `--minutes`, and every 10 s
 * reports the jobs table and index sizes, the archive, the dead-tuple ratio, the backlog, the
 * enqueue latency percentiles and the RSS of each process. At the end it asserts the hot table,
 * its indexes, the backlog and every RSS plateau (last third of the run ≤ 1.5× the middle
 * third, plus slack for small numbers) and exits 1 otherwise.
 */
import { parseArgs } from "node:util";
import { createQueue } from "../src/queue/queues.ts";
import { startBenchCluster } from "./_cluster.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "200" },
    workers: { type: "string", default: "2" },
    "archive-after": { type: "string", default: "30s" },
  },
});
const MINUTES = Number(flags.minutes);
const RATE = Number(flags.rate);
const WORKERS = Number(flags.workers);
const SAMPLE_MS = 10_000;
const ROOT = new URL("../", import.meta.url).pathname;

interface Proc {
  name: string;
  child: Deno.ChildProcess;
  errors: number;
}

function spawn(name: string, args: string[], env: Record<string, string>): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "main.ts", ...args],
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/root",
      SLUICE_LOG_LEVEL: "warn",
      SLUICE_WORKER_ID: name,
      SLUICE_WORKER_METRICS_ADDR: "off",
      ...env,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const p: Proc = { name, child, errors: 0 };
  for (const s of [child.stdout, child.stderr]) {
    void (async () => {
      const d = new TextDecoder();
      for await (const chunk of s) {
        p.errors += (d.decode(chunk).match(/"level":"error"/g) ?? []).length;
      }
    })();
  }
  return p;
}

async function rssMb(pid: number): Promise<number> {
  // The `deno run` child is the process itself (no wrapper), so its VmRSS is the role's RSS.
  const text = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The `p` quantile (0..1) of ascending `sorted`, nearest rank; NaN when empty. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

const mb = (b: number) => Math.round(b / 1024 / 102.4) / 10;

async function main(): Promise<number> {
  const bc = await startBenchCluster();
  const db = await bc.createDatabase(await bc.sluiceTemplate());
  const sql = bc.connect(db, 2);
  const url = new URL(`postgres://${bc.user}@localhost:${bc.port}/${db}`);
  url.searchParams.set("host", bc.host);
  const token = `sluice_${crypto.randomUUID().replaceAll("-", "")}`;
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: url.toString(),
    SLUICE_ARCHIVE_SUCCEEDED_AFTER: flags["archive-after"]!,
    SLUICE_MAINTENANCE_INTERVAL: "1s",
    SLUICE_QUEUES: "soak",
  };
  await createQueue(sql, "soak", {});
  const procs: Proc[] = [
    spawn("api", ["api"], {
      ...env,
      SLUICE_API_ADDR: `127.0.0.1:${port}`,
      SLUICE_BOOTSTRAP_TOKEN: token,
      SLUICE_API_RATE_LIMIT: "none",
    }),
    ...Array.from({ length: WORKERS }, (_, i) => spawn(`worker-${i + 1}`, ["worker"], env)),
    spawn("maintenance", ["maintenance"], env),
  ];
  const samples: Record<string, number | string>[] = [];
  let stop = false;
  try {
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${base}/readyz`)).ok) break;
      } catch { /* starting */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.error(
      `soak: ${MINUTES} min at ${RATE} enqueues/s over HTTP, ${WORKERS} workers, archive after ` +
        `${flags["archive-after"]}, PostgreSQL ${await bc.serverVersion()}`,
    );
    let window: number[] = [];
    let sent = 0, ok = 0, failed = 0;
    const inflight = new Set<Promise<void>>();
    const one = async () => {
      const t0 = performance.now();
      try {
        const r = await fetch(`${base}/v1/jobs`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ queue: "soak", kind: "sluice.noop", payload: { n: sent } }),
        });
        await r.body?.cancel();
        if (r.status === 201) ok++;
        else failed++;
      } catch {
        failed++;
      }
      window.push(performance.now() - t0);
    };
    // Open loop: every 50 ms send what the schedule says is due, whatever the answers do.
    const started = performance.now();
    const producer = (async () => {
      while (!stop) {
        const due = Math.floor(((performance.now() - started) / 1000) * RATE);
        while (sent < due && inflight.size < 2_000) {
          sent++;
          const p = one().finally(() => inflight.delete(p));
          inflight.add(p);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await Promise.all(inflight);
    })();

    const endAt = Date.now() + MINUTES * 60_000;
    while (Date.now() < endAt) {
      await new Promise((r) => setTimeout(r, Math.min(SAMPLE_MS, endAt - Date.now())));
      const [t] = await sql<Record<string, string>[]>`
        SELECT pg_table_size('sluice.jobs') AS jobs_table,
          pg_indexes_size('sluice.jobs') AS jobs_indexes,
          pg_total_relation_size('sluice.jobs_archive') AS archive_total,
          coalesce(s.n_live_tup, 0) AS live, coalesce(s.n_dead_tup, 0) AS dead,
          (SELECT count(*) FROM sluice.jobs WHERE state IN ('available', 'running', 'retrying'))
            AS backlog,
          (SELECT count(*) FROM sluice.jobs WHERE state = 'succeeded') AS succeeded_hot,
          (SELECT count(*) FROM sluice.jobs_archive) AS archived
        FROM pg_stat_user_tables s WHERE s.relid = 'sluice.jobs'::regclass`;
      const lat = window.toSorted((a, b) => a - b);
      window = [];
      const row: Record<string, number | string> = {
        t_s: Math.round((performance.now() - started) / 1000),
        sent,
        ok,
        failed,
        jobs_mb: mb(Number(t!.jobs_table)),
        idx_mb: mb(Number(t!.jobs_indexes)),
        archive_mb: mb(Number(t!.archive_total)),
        dead_ratio: Math.round(
          Number(t!.dead) / Math.max(1, Number(t!.live) + Number(t!.dead)) * 1000,
        ) / 1000,
        backlog: Number(t!.backlog),
        hot_done: Number(t!.succeeded_hot),
        archived: Number(t!.archived),
        p50_ms: Math.round(percentile(lat, 0.5) * 10) / 10,
        p95_ms: Math.round(percentile(lat, 0.95) * 10) / 10,
        p99_ms: Math.round(percentile(lat, 0.99) * 10) / 10,
      };
      for (const p of procs) row[`rss_${p.name}_mb`] = await rssMb(p.child.pid);
      samples.push(row);
      console.log(JSON.stringify(row));
    }
    stop = true;
    await producer;

    // Plateau: compare the last third of the samples with the middle third.
    const third = Math.floor(samples.length / 3);
    const problems: string[] = [];
    if (third < 1) problems.push("run too short to judge a plateau (needs 30 s or more)");
    else {
      const mid = samples.slice(third, 2 * third), last = samples.slice(2 * third);
      const max = (rows: typeof samples, k: string) => Math.max(...rows.map((r) => Number(r[k])));
      const keys: [string, number][] = [["jobs_mb", 2], ["idx_mb", 1], ["backlog", 500]];
      for (const p of procs) keys.push([`rss_${p.name}_mb`, 30]);
      for (const [k, slack] of keys) {
        const a = max(mid, k), b = max(last, k);
        if (b > a * 1.5 + slack) problems.push(`${k} still growing: ${a} -> ${b}`);
      }
      const rate = ok / ((performance.now() - started) / 1000);
      if (rate < RATE * 0.9) problems.push(`only ${rate.toFixed(0)} enqueues/s accepted`);
    }
    const errors = procs.map((p) => `${p.name}=${p.errors}`).join(" ");
    console.error(`soak: sent ${sent}, accepted ${ok}, failed ${failed}; error lines ${errors}`);
    if (problems.length) {
      console.error(`soak FAILED:\n  ${problems.join("\n  ")}`);
      return 1;
    }
    console.error("soak: sizes, backlog and RSS plateaued");
    return 0;
  } finally {
    stop = true;
    for (const p of procs) {
      try {
        p.child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(procs.map((p) => p.child.status));
    await sql.end({ timeout: 2 });
    await bc.stop();
  }
}

Deno.exit(await main());
