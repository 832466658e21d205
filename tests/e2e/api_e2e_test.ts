/**
 * A real `sluice up` process (worker + maintenance + API) on a test database, driven over HTTP
 * with fetch the way a user would with curl.
 */
import { equal, ok as assert } from "node:assert/strict";
import { generateToken } from "../../src/auth/tokens.ts";
import { testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("sluice up serves the API: enqueue runs, a pull worker leases and completes", async () => {
  await withTestDatabase(async (db) => {
    const token = generateToken();
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "up", "--concurrency", "2"],
      env: {
        ...testDatabaseEnv(db),
        NO_COLOR: "1",
        SLUICE_API_ADDR: `127.0.0.1:${port}`,
        SLUICE_BOOTSTRAP_TOKEN: token,
        SLUICE_WORKER_METRICS_ADDR: "off",
        SLUICE_POLL: "100ms",
        SLUICE_LOG_LEVEL: "warn",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Logs and anything else the process prints, stdout and stderr together.
    let output = "";
    const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
    }));
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: auth,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    try {
      await waitFor(
        () => fetch(`${base}/readyz`).then((r) => r.body?.cancel().then(() => r.ok), () => false),
        { timeoutMs: 60_000, intervalMs: 100, what: `readyz on ${base} (output: ${output})` },
      );
      // up_ready comes once the worker runs too, a moment after the API answers; it is written
      // at SLUICE_LOG_LEVEL=warn as well.
      await waitFor(() => output.includes(`"msg":"up_ready"`), {
        timeoutMs: 30_000,
        what: "the up_ready line",
      });
      const ready = JSON.parse(output.split("\n").find((l) => l.includes(`"msg":"up_ready"`))!);
      equal(ready.api, `${base}/v1`);

      const e = await call("POST", "/v1/jobs", { kind: "sluice.noop", payload: { hi: 1 } });
      equal(e.status, 201);
      await waitFor(
        async () => (await call("GET", `/v1/jobs/${e.body.job.id}`)).body.job.state === "succeeded",
        { timeoutMs: 30_000, what: "the noop job to succeed" },
      );

      equal(
        (await call("POST", "/v1/queues", { name: "ext", delivery: { mode: "pull" } })).status,
        201,
      );
      const p = await call("POST", "/v1/jobs", {
        queue: "ext",
        kind: "resize",
        payload: { w: 10 },
      });
      const lease = await call("POST", "/v1/queues/ext/lease", { max: 1, leaseSeconds: 30 });
      equal(lease.body.jobs.length, 1);
      const j = lease.body.jobs[0];
      equal(j.id, p.body.job.id);
      const done = await call("POST", `/v1/jobs/${j.id}/complete`, {
        attempt: j.attempt,
        leaseToken: j.leaseToken,
        result: { ok: true },
      });
      equal(done.status, 200);
      equal(done.body.job.state, "succeeded");

      // `sluice up` shares one registry: the api's scrape shows the worker's series too.
      const prom = await fetch(`${base}/metrics/prom`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await prom.text();
      equal(prom.status, 200);
      assert(
        /sluice_jobs_processed_total\{queue="default",status="succeeded"\} 1/.test(text),
        text,
      );
      assert(text.includes('sluice_http_requests_total{route="/v1/jobs",status="201"}'));

      const anon = await fetch(`${base}/v1/jobs`);
      equal(anon.status, 401);
      await anon.body?.cancel();
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await reading;
      equal(status.code, 0, output);
    }
  });
});
