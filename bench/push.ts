/**
 * Push-delivery throughput: one worker at concurrency 50 POSTs signed jobs to a local no-op
 * receiver (a separate Deno process answering 204), through the real http delivery (signing,
 * destination check, circuit bookkeeping, keep-alive) and the real engine.
 *
 *   deno run -A bench/push.ts [--jobs 20000] [--concurrency 50] [--oidc]
 *
 * `--oidc`: the queue sets `oidcAudience`, so every push also carries an ES256 ID token minted
 * for it (src/delivery/push_token.ts): the price of workload identity on the push path.
 *
 * Prints a human line, then one JSON line last ({jobs, concurrency, seconds, jobsPerS, failed,
 * meanAttemptMs, meanPostMs}) for bench/compare.ts. The database comes from the test helpers:
 * with SLUICE_TEST_DATABASE_URL + SLUICE_TEST_TEMPLATE (as `deno task test` or bench/compare.ts,
 * on its durable cluster, set them) a fresh clone of that template; without, a throwaway
 * NON-durable test cluster (fsync off), so a standalone figure is flattering.
 */
import { parseArgs } from "node:util";
import { BUILTIN_DELIVERY_DENY, LOCAL_DELIVERY_DENY } from "../src/config/vars/delivery.ts";
import { CircuitBreaker } from "../src/delivery/circuit.ts";
import { enqueueJobs } from "../src/queue/enqueue.ts";
import { createQueue } from "../src/queue/queues.ts";
import { httpDelivery } from "../src/worker/http_delivery.ts";
import { PushTokenMinter } from "../src/delivery/push_token.ts";
import { Worker } from "../src/worker/worker.ts";
import type { Deliver } from "../src/worker/deliver.ts";
import { createTestDatabase } from "../tests/_helpers/db.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    jobs: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "50" },
    oidc: { type: "boolean", default: false },
  },
});
const N = Number(values.jobs);
let dMs = 0, dN = 0;
const CONCURRENCY = Number(values.concurrency);

const receiver = new Deno.Command(Deno.execPath(), {
  args: [
    "eval",
    `Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(port) },
      async (req) => { await req.arrayBuffer(); return new Response(null, { status: 204 }); });`,
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = receiver.stdout.getReader();
const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
reader.releaseLock();

const db = await createTestDatabase({ max: 20 });
try {
  await createQueue(db.sql, "push", {
    delivery: {
      mode: "http",
      url: `http://127.0.0.1:${port}/hook`,
      ...(values.oidc ? { oidcAudience: "https://receiver.bench" } : {}),
    },
  });
  for (let i = 0; i < N; i += 5_000) {
    await enqueueJobs(
      db.sql,
      Array.from({ length: Math.min(5_000, N - i) }, (_, k) => ({
        queue: "push",
        kind: "bench.push",
        payload: { n: i + k },
      })),
    );
  }
  const breaker = new CircuitBreaker(db.sql);
  let attempts = 0, attemptMs = 0;
  const worker = new Worker({
    sql: db.sql,
    workerId: "bench-push",
    queues: ["push"],
    concurrency: CONCURRENCY,
    leaseMs: 30_000,
    pollMs: 200,
    shutdownGraceMs: 5_000,
    onAttempt: (e) => {
      attempts++;
      attemptMs += e.durationMs;
    },
    deliveries: {
      http: timed(httpDelivery({
        signingSecrets: ["whsec_" + btoa("bench-secret-0123456789abcdef")],
        // As an operator runs a receiver on the same host: the default deny list, 127.0.0.1 opted in.
        deny: [...BUILTIN_DELIVERY_DENY, ...LOCAL_DELIVERY_DENY],
        allow: ["127.0.0.1/32"],
        breaker,
        holder: "bench-push",
        pushTokens: new PushTokenMinter(db.sql, {
          issuer: "https://sluice.bench",
          keySecret: null,
          lifetimeMs: 300_000,
        }),
      })),
    },
  });
  const t0 = performance.now();
  await worker.start();
  for (;;) {
    const [{ n }] = await db.sql<[{ n: number }]>`
      SELECT count(*)::int AS n FROM sluice.jobs WHERE state = 'succeeded'`;
    if (n >= N) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - t0) / 1000;
  await worker.stop();
  await breaker.close();
  const [{ failed }] = await db.sql<[{ failed: number }]>`
    SELECT count(*)::int AS failed FROM sluice.jobs WHERE jsonb_array_length(errors) > 0`;
  const meanAttemptMs = attemptMs / attempts, meanPostMs = dMs / dN;
  console.log(
    `push${values.oidc ? " (with ID tokens)" : ""}: ${N} jobs at concurrency ${CONCURRENCY} in ${
      seconds.toFixed(2)
    } s = ${Math.round(N / seconds)} jobs/s (${failed} jobs with errors; mean attempt ${
      meanAttemptMs.toFixed(1)
    } ms, of which POST ${meanPostMs.toFixed(1)} ms)`,
  );
  const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
  console.log(JSON.stringify({
    jobs: N,
    concurrency: CONCURRENCY,
    oidc: values.oidc,
    seconds: round(seconds, 2),
    jobsPerS: Math.round(N / seconds),
    failed,
    meanAttemptMs: round(meanAttemptMs, 2),
    meanPostMs: round(meanPostMs, 2),
  }));
} finally {
  await db.drop();
  receiver.kill();
  await receiver.status;
}

function timed(d: Deliver): Deliver {
  return async (job, queue, ctx) => {
    const t = performance.now();
    try {
      return await d(job, queue, ctx);
    } finally {
      dMs += performance.now() - t;
      dN++;
    }
  };
}
