/**
 * Fault: PostgreSQL restarts (`pg_ctl restart -m immediate`) while producers enqueue over HTTP,
 * with every role in its own process (`sluice api`, `sluice worker`, `sluice maintenance`).
 * The api must answer 503 (never a 2xx for an enqueue that did not commit, never a 500), and
 * each role must work again by itself soon after PostgreSQL is back.
 */
import { freePort } from "../_helpers/net.ts";
import { equal, ok as assert } from "node:assert/strict";
import { createQueue } from "../../src/queue/queues.ts";
import { waitFor } from "../_helpers/wait.ts";
import { startOwnCluster } from "./_cluster.ts";
import { Ledger } from "./_ledger.ts";
import {
  apiReady,
  FULL,
  LEASE_MS,
  REAPER_MS,
  SluiceProcess,
  spawnSluice,
  started,
  stopAll,
  tempExecFile,
} from "./_procs.ts";

Deno.test("PostgreSQL restart under HTTP load: 503 not 2xx, api + worker + maintenance recover, I1-I4", async () => {
  const own = await startOwnCluster();
  const sql = own.sql;
  const execFile = await tempExecFile();
  const ledger = new Ledger(sql, { execFile });
  ledger.crashed(); // `pg_ctl stop -m immediate` below
  const procs: SluiceProcess[] = [];
  const token = `sluice_${crypto.randomUUID().replaceAll("-", "")}`;
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  let producing = true;
  const producers: Promise<void>[] = [];
  const statuses = new Map<string, number>();
  const unexpected: string[] = [];
  let firstOkAfter = 0;
  let backAt = Number.POSITIVE_INFINITY;
  try {
    await createQueue(sql, "load", { delivery: { mode: "exec", command: ledger.execCommand() } });
    const api = new SluiceProcess("api", ["api"], {
      DATABASE_URL: own.url,
      SLUICE_API_ADDR: `127.0.0.1:${port}`,
      SLUICE_BOOTSTRAP_TOKEN: token,
      SLUICE_LOG_LEVEL: "info",
    });
    const worker = spawnSluice("w1", "worker", own.url, { SLUICE_QUEUES: "load" });
    const maint = new SluiceProcess("m1", ["maintenance"], { DATABASE_URL: own.url });
    procs.push(api, worker, maint);
    await Promise.all([
      started(worker),
      maint.waitLog("maintenance_started", { timeoutMs: 30_000 }),
      apiReady(base),
    ]);
    ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });

    // Producers over HTTP: a 201 is accepted (its row must exist and finish); a 503 or a lost
    // answer is uncertain (the commit may have happened just before the connection broke);
    // anything else is a bug.
    let n = 0;
    const produce = async () => {
      while (producing) {
        const tag = `r-${n++}`;
        try {
          const r = await fetch(`${base}/v1/jobs`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ queue: "load", kind: "sleep:0.02", tags: [tag] }),
          });
          const body = await r.json();
          const key = `${r.status} ${body.error?.code ?? ""}`.trim();
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          if (r.status === 201) {
            ledger.accept([body.job.id]);
            if (!firstOkAfter && Date.now() > backAt) firstOkAfter = Date.now();
          } else if (r.status === 503 && body.error?.code === "DATABASE_UNAVAILABLE") {
            assert(r.headers.get("retry-after"), "a 503 carries Retry-After");
            ledger.uncertain(tag);
          } else {
            unexpected.push(`${key}: ${JSON.stringify(body).slice(0, 200)}`);
            ledger.uncertain(tag);
          }
        } catch (e) {
          unexpected.push(`fetch failed: ${(e as Error).message}`);
          ledger.uncertain(tag);
        }
        await new Promise((r) => setTimeout(r, 40)); // scenario: a steady stream, not a burst
      }
    };
    for (let i = 0; i < 2; i++) producers.push(produce());
    // Scenario, not a wait: traffic flows for this long before the outage.
    await new Promise((r) => setTimeout(r, FULL ? 5_000 : 1_000));

    const outageFrom = Date.now();
    // Stop, hold PostgreSQL down long enough for the api to answer during the outage, start.
    await own.pgCtl("stop", "-m", "immediate", "-w", "-t", "60");
    await waitFor(() => (statuses.get("503 DATABASE_UNAVAILABLE") ?? 0) > 0, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: "the api to answer 503 while PostgreSQL is down",
    });
    const readyDown = await fetch(`${base}/readyz`);
    equal(readyDown.status, 503, "readyz reports the outage");
    await readyDown.body?.cancel();
    // Scenario: the outage lasts this long with producers retrying into it.
    await new Promise((r) => setTimeout(r, FULL ? 3_000 : 1_000));
    await own.pgCtl("start", "-w", "-t", "60");
    backAt = Date.now();
    // Back within 10 s (the issue), in every profile: measured 0.3–1.6 s.
    const deadline = backAt + 10_000;
    const left = () => Math.max(500, deadline - Date.now());

    await waitFor(() => firstOkAfter > 0, {
      timeoutMs: left(),
      intervalMs: 50,
      what: "the api to accept enqueues again",
    });
    await waitFor(async () => {
      const [r] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM sluice.jobs
        WHERE leased_at > ${new Date(backAt)} AND worker_id = 'w1'`;
      return r!.n > 0;
    }, { timeoutMs: left(), intervalMs: 100, what: "the worker to lease again" });
    const workerBackMs = Date.now() - backAt;
    await ledger.reaperRuns("load", {
      timeoutMs: left(),
      what: "maintenance's reaper to run again",
    });
    const recoveredMs = Date.now() - backAt;
    const reaperBackMs = recoveredMs;
    ledger.exempt(outageFrom, backAt + recoveredMs);
    const readyUp = await fetch(`${base}/readyz`);
    equal(readyUp.status, 200);
    await readyUp.body?.cancel();

    producing = false;
    await Promise.all(producers);
    await ledger.settle(60_000);
    const summary = await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
    assert(unexpected.length === 0, `unexpected answers: ${unexpected.slice(0, 10).join("; ")}`);

    // Errors logged at a bounded rate, whatever the request rate: a burst per connection plus
    // a few lines per second of outage, not one per refused request.
    const seconds = (Date.now() - outageFrom) / 1000;
    const refused = statuses.get("503 DATABASE_UNAVAILABLE") ?? 0;
    for (const p of procs) {
      const errs = p.lines.filter((l, i) =>
        (l.level === "error" || l.level === "warn") && p.receivedAt[i]! >= outageFrom
      ).length;
      assert(errs <= 20 + 5 * seconds, `${p.name} logged ${errs} warnings/errors in ${seconds} s`);
    }
    if (Deno.env.get("SLUICE_FAULTS_DUMP")) {
      for (const p of procs) {
        const out = p.lines.filter((_, i) => p.receivedAt[i]! >= outageFrom)
          .filter((l) => l.msg !== "http_request" && l.msg !== "job_succeeded")
          .map((l) => JSON.stringify(l).slice(0, 300));
        await Deno.writeTextFile(
          `/tmp/dump-${p.name}.txt`,
          `backAt ${new Date(backAt).toISOString()}\n${out.join("\n")}`,
        );
      }
    }
    console.log(
      `api restart: down ${backAt - outageFrom} ms, api/worker/maintenance back within ` +
        `${recoveredMs} ms (first 201 after ${firstOkAfter - backAt} ms, worker lease by ` +
        `${workerBackMs} ms, reaper by ${reaperBackMs} ms), answers ` +
        `${JSON.stringify(Object.fromEntries(statuses))}, 503s ${refused}, ` +
        JSON.stringify(summary),
    );
  } catch (e) {
    for (const p of procs) console.error(`--- ${p.name}\n${p.dump()}`);
    const internal = procs[0]?.lines.filter((l) => l.code === "INTERNAL") ?? [];
    console.error(`--- api INTERNAL errors\n${internal.map((l) => JSON.stringify(l)).join("\n")}`);
    throw e;
  } finally {
    producing = false;
    await Promise.all(producers);
    ledger.stopWatch();
    await stopAll(procs);
    await own.dispose();
    await Deno.remove(execFile).catch(() => {});
  }
});
