/**
 * HTTP enqueue benchmark: starts `sluice api`, then a separate Deno process sends
 * POST /v1/jobs at a fixed rate (open loop: requests leave on schedule whether or not earlier
 * ones have answered, so slow answers show up as latency instead of a lower send rate) and
 * prints enqueues/s and p50/p95/p99 latency.
 *
 *   deno run -A bench/http_enqueue.ts [--rate 500] [--seconds 10] [--warmup 3]
 *
 * The first `--warmup` seconds run at the same rate but count apart (`warmup*` fields): a
 * freshly started api answers its first second or so of a 500/s burst in 0.3–0.9 s (measured:
 * new keep-alive and pool connections, cold JIT) and only then settles (p95 ~20–45 ms), which
 * would otherwise dominate a short run's p95. The steady-state figures are the headline.
 *
 * With DATABASE_URL it uses that database (migrating it); without, it starts a throwaway
 * embedded PostgreSQL in /tmp with default (durable) settings.
 */
import { parseArgs } from "node:util";
import { generateToken } from "../src/auth/tokens.ts";
import { type EmbeddedCluster, startEmbedded } from "../src/db/embedded.ts";
import { embeddedUrl } from "../tests/_helpers/db.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string", default: "500" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    load: { type: "string" },
    token: { type: "string" },
  },
  strict: true,
});
const rate = Number(args.values.rate);
const seconds = Number(args.values.seconds);
const warmup = Number(args.values.warmup);

if (args.values.load) {
  // The load-generator process.
  const url = `${args.values.load}/v1/jobs`;
  const headers = {
    authorization: `Bearer ${args.values.token}`,
    "content-type": "application/json",
  };
  const first = Math.round(rate * warmup), total = first + rate * seconds;
  const latencies: number[] = [], cold: number[] = [];
  let ok = 0, failed = 0, coldFailed = 0;
  const t0 = performance.now(), t1 = t0 + (first * 1000) / rate;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push((async () => {
      const s = performance.now();
      try {
        const res = await fetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify({ kind: "bench.http", payload: { i, to: "a@b.c" } }),
        });
        await res.body?.cancel();
        if (res.status !== 201 && i < first) coldFailed++;
        else if (res.status !== 201) failed++;
        else if (i >= first) ok++;
      } catch {
        if (i < first) coldFailed++;
        else failed++;
      }
      (i < first ? cold : latencies).push(performance.now() - s);
    })());
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t1) / 1000;
  const pct = (xs: number[], p: number) => {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 10) / 10;
  };
  console.log(JSON.stringify({
    requests: total - first,
    ok,
    failed,
    seconds: Math.round(elapsed * 100) / 100,
    enqueuesPerSecond: Math.round(ok / elapsed),
    p50Ms: pct(latencies, 0.5),
    p95Ms: pct(latencies, 0.95),
    p99Ms: pct(latencies, 0.99),
    warmupSeconds: warmup,
    warmupFailed: coldFailed,
    warmupP95Ms: pct(cold, 0.95),
    warmupMaxMs: pct(cold, 1),
  }));
  Deno.exit(0);
}

let cluster: EmbeddedCluster | null = null;
let tempDir: string | null = null;
let databaseUrl = Deno.env.get("DATABASE_URL") ?? null;
if (!databaseUrl) {
  tempDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-bench-" });
  cluster = await startEmbedded({ dataDir: tempDir });
  const c = cluster.connection;
  databaseUrl = embeddedUrl(c.host, c.port, c.database, c.username);
}
const token = generateToken();
const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (l.addr as Deno.NetAddr).port;
l.close();
const base = `http://127.0.0.1:${port}`;
const api = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "main.ts", "api"],
  env: {
    DATABASE_URL: databaseUrl,
    SLUICE_API_ADDR: `127.0.0.1:${port}`,
    SLUICE_BOOTSTRAP_TOKEN: token,
    SLUICE_MIGRATE_ON_STARTUP: "true",
    SLUICE_API_RATE_LIMIT: "none",
    SLUICE_LOG_LEVEL: "warn",
    NO_COLOR: "1",
  },
  stdout: "null",
  stderr: "inherit",
}).spawn();
try {
  for (let i = 0;; i++) {
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.body?.cancel().then(() => r.ok),
      () => false,
    );
    if (ok) break;
    if (i > 600) throw new Error("the api did not become ready within 60s");
    await new Promise((r) => setTimeout(r, 100));
  }
  // Warm-up: first requests pay for connections and prepared statements.
  for (let i = 0; i < 20; i++) {
    await fetch(`${base}/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ kind: "bench.warmup" }),
    }).then((r) => r.body?.cancel());
  }
  const load = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--load",
      base,
      "--token",
      token,
      "--rate",
      String(rate),
      "--seconds",
      String(seconds),
      "--warmup",
      String(warmup),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const result = JSON.parse(new TextDecoder().decode(load.stdout).trim());
  console.log(
    `HTTP enqueue at ${rate} req/s for ${seconds}s (${cluster ? "embedded" : "DATABASE_URL"}): ` +
      `${result.enqueuesPerSecond} enqueues/s, ${result.ok} ok, ${result.failed} failed, ` +
      `p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, p99 ${result.p99Ms} ms ` +
      `(after ${warmup} s of warm-up at the same rate: p95 ${result.warmupP95Ms} ms, ` +
      `max ${result.warmupMaxMs} ms)`,
  );
  console.log(JSON.stringify(result));
} finally {
  api.kill("SIGTERM");
  await api.status;
  await cluster?.stop();
  if (tempDir) await Deno.remove(tempDir, { recursive: true }).catch(() => {});
}
