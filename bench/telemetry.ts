/**
 * `deno run -A bench/telemetry.ts`: what OTLP export costs the worker's hot path, and that a
 * collector that is down costs nothing more (issue #15). On its own ephemeral PostgreSQL (fsync
 * on), one process: enqueue `--jobs` sluice.noop in batches, then process them with the real
 * Worker at `--concurrency`, in four modes, alternated per round (A/B/C/D, `--reps` rounds,
 * median per mode):
 *
 *   off    no endpoint: the SDK is not loaded, the API is a no-op (the default)
 *   live   spans, logs and metrics to a collector on 127.0.0.1 that accepts everything
 *   down   an endpoint where nothing listens (connection refused)
 *   stuck  a collector that accepts the connection and never answers (exports time out)
 *
 *   deno run -A bench/telemetry.ts [--jobs 20000] [--concurrency 50] [--reps 3]
 *                                  [--modes off,live,down,stuck]
 */
import { parseArgs } from "node:util";
import { requireConfig } from "../src/config/load.ts";
import { Registry } from "../src/obs/metrics.ts";
import { startTelemetry, type Telemetry, TELEMETRY_OFF } from "../src/obs/telemetry/mod.ts";
import { telemetrySettings } from "../src/obs/telemetry/settings.ts";
import { startBenchCluster } from "./_cluster.ts";
import { enqueueBatchRate, processRate } from "./_sluice.ts";
import { fmtRate, median } from "./_stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    jobs: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "50" },
    reps: { type: "string", default: "3" },
    modes: { type: "string", default: "off,live,down,stuck" },
  },
});
const jobs = Number(values.jobs), concurrency = Number(values.concurrency);
const reps = Number(values.reps);

type Mode = "off" | "live" | "down" | "stuck";
const MODES = values.modes.split(",") as Mode[];

// A collector that accepts everything (and counts what arrives).
let received = 0;
const live = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
  await req.arrayBuffer();
  received++;
  return new Response("{}", { headers: { "content-type": "application/json" } });
});
// One that takes connections and never answers.
const stuck = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const held: Deno.Conn[] = [];
(async () => {
  for await (const c of stuck) held.push(c);
})();
const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const deadPort = (dead.addr as Deno.NetAddr).port;
dead.close();

function endpoint(mode: Mode): string | null {
  if (mode === "live") return `http://127.0.0.1:${live.addr.port}`;
  if (mode === "down") return `http://127.0.0.1:${deadPort}`;
  if (mode === "stuck") return `http://127.0.0.1:${(stuck.addr as Deno.NetAddr).port}`;
  return null;
}

async function telemetryFor(mode: Mode): Promise<Telemetry> {
  const url = endpoint(mode);
  if (url === null) return TELEMETRY_OFF;
  const { config } = requireConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_METRIC_EXPORT_INTERVAL: "1000",
  });
  return await startTelemetry({
    settings: telemetrySettings(config, "worker"),
    role: "worker",
    registry: new Registry(),
    instanceId: "bench",
  });
}

const bc = await startBenchCluster();
const rates = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
const drops = new Map<Mode, number>();
try {
  console.log(
    `PostgreSQL ${await bc.serverVersion()} (fsync on), ${navigator.hardwareConcurrency} cores, ` +
      `${jobs} sluice.noop jobs, concurrency ${concurrency}`,
  );
  const template = await bc.sluiceTemplate();
  for (let rep = 0; rep < reps; rep++) {
    // Rotated per round so no mode always runs first on a cold cache.
    const order = MODES.map((_, i) => MODES[(i + rep) % MODES.length]!);
    for (const mode of order) {
      const db = await bc.createDatabase(template);
      const sql = bc.connect(db);
      const telemetry = await telemetryFor(mode);
      try {
        await enqueueBatchRate(sql, jobs, 1000);
        const r = await processRate(sql, concurrency, jobs, 120, {
          tracing: telemetry.enabled,
        });
        rates.get(mode)!.push(r.jobsPerS);
        const traces = telemetry.health().find((h) => h.signal === "traces");
        if (traces) drops.set(mode, (drops.get(mode) ?? 0) + traces.itemsDropped);
        const attempted = traces?.exportsAttempted ?? 0;
        console.log(
          `round ${rep + 1} ${mode.padEnd(5)} ${fmtRate(r.jobsPerS)} jobs/s` +
            (traces
              ? ` (spans exported ${traces.itemsExported}, dropped ${traces.itemsDropped}, exports ${attempted} of which failed ${traces.exportsFailed})`
              : "") +
            (r.capped ? ` (capped: ${r.completed} of ${jobs})` : ""),
        );
      } finally {
        // Not timed: a stuck collector's shutdown waits out the export timeout.
        await telemetry.shutdown();
        await sql.end();
        await bc.dropDatabase(db);
      }
    }
  }
  console.log("\nmedian jobs/s per mode:");
  const off = median(rates.get("off") ?? [NaN]);
  for (const m of MODES) {
    const x = median(rates.get(m)!);
    console.log(
      `  ${m.padEnd(5)} ${fmtRate(x)}  (${((x / off - 1) * 100).toFixed(1)}% vs off)` +
        (drops.get(m) ? `, ${drops.get(m)} spans dropped in all` : ""),
    );
  }
  console.log(`collector requests received (live): ${received}`);
} finally {
  await bc.stop();
  await live.shutdown();
  stuck.close();
  for (const c of held) c.close();
}
