import { equal, ok as assert } from "node:assert/strict";
import { CircuitBreaker, listCircuits } from "../../src/delivery/circuit.ts";
import { createLogger } from "../../src/obs/log.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { httpDelivery } from "../../src/worker/http_delivery.ts";
import { Worker } from "../../src/worker/worker.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { startReceiver } from "./_receiver.ts";

Deno.test("a circuit opens on repeated failures, defers jobs without using attempts, and closes after a probe", async () => {
  await withTestDatabase(async (db) => {
    let healthy = false;
    const r = startReceiver(
      [],
      () => healthy ? Response.json({ ok: true }) : new Response("down", { status: 500 }),
    );
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ write: (l) => lines.push(JSON.parse(l)) });
    const breaker = new CircuitBreaker(db.sql, {
      failures: 3,
      cooldownMs: 600,
      flushMs: 10,
      refreshMs: 50,
    }, log);
    const w = new Worker({
      sql: db.sql,
      workerId: "circuit-test",
      queues: ["hooks"],
      concurrency: 1,
      leaseMs: 5_000,
      pollMs: 30,
      shutdownGraceMs: 1_000,
      log,
      deliveries: { http: httpDelivery({ signingSecrets: [], deny: [], breaker }) },
    });
    try {
      await createQueue(db.sql, "hooks", {
        delivery: { mode: "http", url: `${r.url}/x` },
        backoff: { baseMs: 1, maxMs: 5 },
        maxAttempts: 50,
      });
      await w.start();
      const ids = (await enqueueJobs(
        db.sql,
        Array.from({ length: 4 }, () => ({
          queue: "hooks",
          kind: "k",
        })),
      )).map((x) => x.job.id);
      const open = await waitFor(
        async () => (await listCircuits(db.sql)).find((c) => c.state === "open"),
        { what: "an open circuit" },
      );
      equal(open.origin, r.url.replace(/\/$/, ""));
      equal(open.lastFailure, "HTTP_5XX");
      assert(lines.some((l) => l.msg === "circuit_opened"), "circuit_opened logged");

      // While open, jobs wait without consuming attempts, and explain says why.
      const held = await waitFor(async () => {
        for (const id of ids) {
          const e = await explainJob(db.sql, id);
          if (e.explain.code === "CIRCUIT_OPEN") return e;
        }
        return null;
      }, { what: "a job explained as CIRCUIT_OPEN" });
      assert(held.explain.sentence.includes(open.origin), held.explain.sentence);
      assert(held.explain.facts.openUntil, "explain names when it may close");
      const attempts = (await Promise.all(ids.map((id) => getJob(db.sql, id))))
        .reduce((n, j) => n + j.attempt, 0);
      const sent = r.received.length;
      // Every counted attempt was a request, except at most one leased job (concurrency 1) that
      // is between its lease and its deferral: deferrals give their attempt back.
      assert(attempts <= sent + 1, `${attempts} attempts for ${sent} requests`);
      // Explain reads the circuit row, so it can say CIRCUIT_OPEN before the worker has leased a
      // job and deferred it: wait for the deferral itself.
      await waitFor(() => lines.some((l) => l.msg === "job_deferred"), { what: "a deferred job" });

      healthy = true;
      await waitFor(async () => {
        const jobs = await Promise.all(ids.map((id) => getJob(db.sql, id)));
        return jobs.every((j) => j.state === "succeeded");
      }, { what: "every job to succeed after the circuit closed" });
      // The probe's verdict is written beside (not before) its job's completion: wait for it.
      await waitFor(async () => (await listCircuits(db.sql))[0]?.state === "closed", {
        what: "the circuit to close",
      });
      assert(lines.some((l) => l.msg === "circuit_closed"), "circuit_closed logged");
    } finally {
      await w.stop();
      await breaker.close();
      await r.close();
    }
  });
});
