/**
 * Backup/restore throughput on a large jobs table.
 *
 *   deno run -A bench/backup.ts [--jobs 1000000] [--no-restore]
 *
 * Uses DATABASE_URL's server when set (it creates and drops databases `sluice_bench_*`
 * there), otherwise a throwaway embedded cluster in /tmp with durability off. Fills `jobs`
 * with realistic rows (a small JSON payload, a mix of states), then times `backupDatabase`
 * into a file and `restoreDatabase` from it, sampling this process's RSS every 20 ms, and
 * prints rows/s, MB/s, archive size and peak RSS (plus VmHWM from /proc, the kernel's peak).
 */
import { parseArgs } from "node:util";
import { backupDatabase } from "../src/backup/backup.ts";
import { restoreDatabase } from "../src/backup/restore.ts";
import { openDatabase, type Sql } from "../src/db/connect.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { databaseUrlFor, embeddedUrl, TEST_CLUSTER_SETTINGS } from "../tests/_helpers/db.ts";

const { values } = parseArgs({
  options: { jobs: { type: "string", default: "1000000" }, "no-restore": { type: "boolean" } },
});
const JOBS = Number(values.jobs);

let adminUrl = Deno.env.get("DATABASE_URL") ?? null;
let stopCluster = async () => {};
const tmp = await Deno.makeTempDir({ dir: "/tmp", prefix: "sluice-bench-" });
if (!adminUrl) {
  const cluster = await startEmbedded({ dataDir: tmp, settings: TEST_CLUSTER_SETTINGS });
  const c = cluster.connection;
  adminUrl = embeddedUrl(c.host, c.port, c.database, c.username);
  stopCluster = () => cluster.stop();
}
const admin = await openDatabase({ databaseUrl: adminUrl, dataDir: "", max: 1 });
const names = [`sluice_bench_src_${Date.now()}`, `sluice_bench_dst_${Date.now()}`];
for (const n of names) await admin.unsafe(`CREATE DATABASE ${n}`);
const src = await openDatabase({ databaseUrl: databaseUrlFor(adminUrl, names[0]!), dataDir: "" });
const dst = await openDatabase({ databaseUrl: databaseUrlFor(adminUrl, names[1]!), dataDir: "" });

function rssSampler() {
  let peak = Deno.memoryUsage().rss;
  const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  return () => {
    clearInterval(timer);
    return Math.max(peak, Deno.memoryUsage().rss);
  };
}

async function vmHwm(): Promise<string> {
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  return /VmHWM:\s*(\d+) kB/.exec(status)?.[1] ?? "?";
}

const mb = (n: number) => (n / 1024 / 1024).toFixed(1);

try {
  await migrate(src);
  const t0 = performance.now();
  await fill(src, JOBS);
  console.log(`filled ${JOBS} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const file = `${tmp}/bench.backup`;
  const rssBefore = Deno.memoryUsage().rss;
  let stop = rssSampler();
  let t = performance.now();
  const f = await Deno.open(file, { write: true, create: true, truncate: true });
  const b = await backupDatabase(src, f.writable);
  let secs = (performance.now() - t) / 1000;
  let peak = stop();
  console.log(
    `backup:  ${b.trailer.totalRows} rows in ${secs.toFixed(1)} s = ` +
      `${Math.round(b.trailer.totalRows / secs)} rows/s, ${mb(b.trailer.totalBytes / secs)} MB/s ` +
      `of COPY text; archive ${mb(b.compressedBytes)} MiB (${mb(b.trailer.totalBytes)} MiB ` +
      `uncompressed); RSS ${mb(rssBefore)} MiB before, peak ${mb(peak)} MiB`,
  );
  if (!values["no-restore"]) {
    stop = rssSampler();
    t = performance.now();
    const r = await restoreDatabase(dst, (await Deno.open(file)).readable, { source: file });
    secs = (performance.now() - t) / 1000;
    peak = stop();
    console.log(
      `restore: ${r.trailer.totalRows} rows in ${secs.toFixed(1)} s = ` +
        `${Math.round(r.trailer.totalRows / secs)} rows/s (verified, one transaction); ` +
        `peak RSS ${mb(peak)} MiB`,
    );
  }
  console.log(`process VmHWM (kernel peak RSS) ${(Number(await vmHwm()) / 1024).toFixed(1)} MiB`);
} finally {
  await src.end();
  await dst.end();
  for (const n of names) await admin.unsafe(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
  await admin.end();
  await stopCluster();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}

/** Jobs in the proportions of a busy system: mostly finished, some waiting, a few dead. */
async function fill(sql: Sql, n: number): Promise<void> {
  const batch = 200_000;
  for (let from = 1; from <= n; from += batch) {
    const to = Math.min(n, from + batch - 1);
    await sql`
      INSERT INTO sluice.jobs (queue, kind, payload, state, attempt, max_attempts, tags,
        started_at, finished_at, created_at)
      SELECT 'default', 'email.send',
        jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome',
          'vars', jsonb_build_object('n', i)),
        CASE WHEN i % 20 = 0 THEN 'available' WHEN i % 97 = 0 THEN 'dead' ELSE 'succeeded' END,
        1, 5, ARRAY['tenant:' || (i % 50)],
        now() - interval '1 hour', now() - interval '59 minutes', now() - interval '2 hours'
      FROM generate_series(${from}::int, ${to}::int) AS i`;
  }
}
