/**
 * `sluice verify` and `sluice smoke` as an operator runs them: real processes against a real
 * `sluice up` (API + worker with its metrics port) on a test database.
 */
import { equal, match } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { generateToken } from "../../src/auth/tokens.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { sumSeries } from "../../src/cli/smoke.ts";
import { startSluice } from "../_helpers/sluice_process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function sluice(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("sluice verify and sluice smoke against a running sluice up", async (t) => {
  await withTestDatabase(async (db) => {
    const token = generateToken();
    const metricsPort = freePort();
    const worker = `http://127.0.0.1:${metricsPort}`;
    const up = await startSluice(db, {
      token,
      env: { SLUICE_WORKER_METRICS_ADDR: `127.0.0.1:${metricsPort}` },
    });
    // A stand-in for a worker of another build, to see the version check fail.
    const other = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => Response.json({ status: "ok", version: "0.0.9", commit: "abc123" }),
    );
    const otherUrl = `http://127.0.0.1:${(other.addr as Deno.NetAddr).port}`;
    try {
      await t.step("verify passes for the api and the worker with a token", async () => {
        const r = await sluice("verify", "--api", up.base, "--worker", worker, "--token", token);
        equal(r.code, 0, r.stdout + r.stderr);
        for (
          const check of [
            "api live",
            "api ready",
            "api health",
            "api token",
            "ops page",
            "worker live",
          ]
        ) {
          match(r.stdout, new RegExp(`^${check} .* ok `, "m"));
        }
        match(r.stdout, /^version .* ok +all run 0\.1\.0 \(commit /m);
        match(r.stdout, /database [\d.]+ ms, 0 migrations pending/);
      });

      await t.step("verify --json without a token", async () => {
        const r = await sluice("verify", "--api", up.base, "--json");
        equal(r.code, 0, r.stderr);
        const body = JSON.parse(r.stdout);
        equal(body.ok, true);
        // live, ready, health, the ops page, what it loads, version.
        equal(body.checks.length, 6, r.stdout);
        const assets = body.checks.find((c: { check: string }) => c.check === "ops page assets");
        match(assets.detail, /^\d+ scripts and stylesheets served$/);
      });

      await t.step(
        "verify fails, listing what failed: a dead worker and another build",
        async () => {
          const dead = `http://127.0.0.1:${freePort()}`;
          const r = await sluice(
            "verify",
            "--api",
            up.base,
            "--worker",
            dead,
            "--worker",
            otherUrl,
            "--timeout",
            "2s",
          );
          equal(r.code, 1, r.stdout);
          match(r.stdout, /^worker live .*FAIL +connection refused/m);
          match(r.stdout, /builds differ: .* runs 0\.0\.9 \(commit abc123\)/);
          match(
            r.stderr,
            /^error: 2 of 8 checks failed: worker live http:\/\/127\.0\.0\.1:\d+\/healthz/,
          );
        },
      );

      await t.step("verify refuses a wrong token and an unreachable api", async () => {
        const bad = await sluice("verify", "--api", up.base, "--token", generateToken());
        equal(bad.code, 1);
        match(bad.stdout, /^api token .*FAIL +HTTP 401 UNAUTHENTICATED/m);
        const gone = await sluice("verify", "--api", `127.0.0.1:${freePort()}`, "--timeout", "2s");
        equal(gone.code, 1);
        match(gone.stdout, /no endpoint answered \/healthz/);
        equal((await sluice("verify")).code, 2);
      });

      await t.step("verify fails when the address answers but is not the ops page", async () => {
        const r = await sluice("verify", "--api", otherUrl, "--json");
        equal(r.code, 1);
        const body = JSON.parse(r.stdout);
        const page = body.checks.find((c: { check: string }) => c.check === "ops page");
        equal(page.ok, false);
        match(page.detail, /not the Sluice ops page/);
      });

      await t.step(
        "verify --watch passes a stable deployment, one progress line per round",
        async () => {
          const r = await sluice("verify", "--api", up.base, "--watch", "1s", "--every", "300ms");
          equal(r.code, 0, r.stdout + r.stderr);
          match(r.stderr, /^verify: round 1 at \d\d:\d\d:\d\d: 6 checks ok, \ds of 1s$/m);
          match(r.stderr, /^verify: stable for 1s \([3-9] rounds, every check ok\)$/m);
          equal((await sluice("verify", "--api", up.base, "--every", "1s")).code, 2);
        },
      );

      await t.step("verify --watch stops at the first round that fails, saying when", async () => {
        // A forwarding front for the api that the test takes away mid-watch, as an outage would.
        const front = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen: () => {} },
          (req) => {
            const url = new URL(req.url);
            return fetch(`${up.base}${url.pathname}${url.search}`, { headers: req.headers });
          },
        );
        const frontUrl = `http://127.0.0.1:${(front.addr as Deno.NetAddr).port}`;
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `${ROOT}main.ts`,
            "verify",
            "--api",
            frontUrl,
            "--watch",
            "60s",
            "--every",
            "200ms",
            "--timeout",
            "2s",
          ],
          env: { NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const stdout = new Response(child.stdout).text();
        let stderr = "";
        const decoder = new TextDecoder();
        const reader = child.stderr.getReader();
        let cut = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          stderr += decoder.decode(value, { stream: true });
          if (!cut && /round 2 at/.test(stderr)) {
            cut = true;
            await front.shutdown();
          }
        }
        const status = await child.status;
        equal(status.code, 1, stderr);
        match(
          stderr,
          /^verify: round \d+ at \d\d:\d\d:\d\d: \d+ of \d+ checks failed, after \d+s of 60s$/m,
        );
        // The front may go away between two checks of one round: some check of that round failed.
        match(await stdout, /^(api|ops page)[a-z ]* .*FAIL/m);
      });

      await t.step("smoke passes, creates its queue once and leaves nothing running", async () => {
        const r = await sluice("smoke", "--api", up.base, "--token", token, "--worker", worker);
        equal(r.code, 0, r.stdout + r.stderr);
        match(r.stdout, /^ok +queue sluice-smoke: created/m);
        match(r.stdout, /^ok +sluice\.noop succeeds: job \d+ succeeded/m);
        match(r.stdout, /^ok +sluice\.fail dies: job \d+ dead \(DEAD_PERMANENT_ERROR\)/m);
        match(r.stdout, /^ok +replay of the dead job: job \d+ \(retryOf \d+\) ran and died again/m);
        match(r.stdout, /^ok +metrics moved: sluice_jobs_processed_total \d+ → \d+/m);
        match(r.stdout, /^ok +clean up: nothing left running/m);
        match(r.stdout, /^smoke passed in /m);
        const again = await sluice("smoke", "--api", up.base, "--token", token);
        equal(again.code, 0, again.stdout);
        match(again.stdout, /^ok +queue sluice-smoke: exists, not paused/m);
        // sluice up serves the worker's counters on the api's /metrics/prom too.
        match(again.stdout, /^ok +metrics moved: sluice_jobs_processed_total \d+ → \d+/m);
        const running = await db.sql`
          SELECT count(*)::int AS n FROM sluice.jobs
          WHERE queue = 'sluice-smoke' AND state NOT IN ('succeeded', 'dead', 'cancelled')`;
        equal(running[0]!.n, 0);
      });

      await t.step("smoke fails fast on a paused queue and cancels what it left", async () => {
        const h = { authorization: `Bearer ${token}`, "content-type": "application/json" };
        const res = await fetch(`${up.base}/v1/queues`, {
          method: "POST",
          headers: h,
          body: JSON.stringify({ name: "smoke-paused", paused: true }),
        });
        equal(res.status, 201, await res.text());
        const r = await sluice(
          "smoke",
          "--api",
          up.base,
          "--token",
          token,
          "--queue",
          "smoke-paused",
        );
        equal(r.code, 1);
        match(r.stdout, /^FAIL +queue smoke-paused: queue 'smoke-paused' is paused/m);
        match(r.stdout, /^smoke FAILED after /m);
      });

      await t.step(
        "smoke without a worker: times out with the reason, cancels its job",
        async () => {
          await withTestDatabase(async (db2) => {
            const apiOnly = await startSluice(db2, { token, role: "api" });
            try {
              const r = await sluice(
                "smoke",
                "--api",
                apiOnly.base,
                "--token",
                token,
                "--timeout",
                "1s",
              );
              equal(r.code, 1, r.stdout);
              match(
                r.stdout,
                /^FAIL +sluice\.noop succeeds: job (\d+) still available after 1s \(NO_WORKER/m,
              );
              match(r.stdout, /^ok +clean up: cancelled \d+/m);
              const [row] = await db2
                .sql`SELECT state FROM sluice.jobs WHERE queue = 'sluice-smoke'`;
              equal(row!.state, "cancelled");
            } finally {
              await apiOnly.stop();
            }
          });
        },
      );
    } finally {
      await other.shutdown();
      await up.stop();
    }
  });
});

Deno.test("sumSeries() sums every sample of one name; a bare declaration is no sample", () => {
  const text = [
    "# TYPE sluice_jobs_processed_total counter",
    'sluice_jobs_processed_total{queue="a",status="succeeded"} 3',
    'sluice_jobs_processed_total{queue="b",status="dead"} 2',
    "sluice_jobs_processed_total_extra 100",
    "# TYPE sluice_job_retries_total counter",
  ].join("\n");
  equal(sumSeries(text, "sluice_jobs_processed_total"), 5);
  equal(sumSeries(text, "sluice_job_retries_total"), null);
});
