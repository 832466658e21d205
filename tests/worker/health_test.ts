import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue, setQueuePaused } from "../../src/queue/queues.ts";
import { createLogger } from "../../src/obs/log.ts";
import { createWorkerMetrics } from "../../src/obs/worker_metrics.ts";
import { startWorkerServer } from "../../src/obs/worker_server.ts";
import { versionInfo } from "../../src/version.ts";
import { handlerMap } from "../../src/worker/handlers.ts";
import { workerHealth } from "../../src/worker/health.ts";
import { Worker } from "../../src/worker/worker.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("worker /healthz and /health carry in-flight, held, capacity and oldest waiting per served queue", async () => {
  await withTestDatabase(async (db) => {
    const log = createLogger({ write: () => {} });
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    let fast = 0;
    const w = new Worker({
      sql: db.sql,
      workerId: "w-health",
      queues: ["a", "b"],
      concurrency: 2,
      leaseMs: 30_000,
      pollMs: 200,
      shutdownGraceMs: 1_000,
      handlers: handlerMap({
        "t.fast": () => void fast++,
        "t.slow": (_p, { signal }) =>
          new Promise<void>((resolve) => {
            released.then(resolve);
            signal.addEventListener("abort", () => resolve(), { once: true });
          }),
      }),
    });
    const server = startWorkerServer({
      addr: { hostname: "127.0.0.1", port: 0 },
      registry: createWorkerMetrics().registry,
      log,
      health: workerHealth(db.sql, () => w, { capacity: 2, log, ttlMs: 60_000 }),
    })!;
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${server.addr.port}${path}`);
      equal(r.status, 200);
      return await r.json();
    };
    try {
      await createQueue(db.sql, "a", {});
      await createQueue(db.sql, "b", {});
      // Queue b is paused: its jobs wait, the oldest due 90 s ago.
      await setQueuePaused(db.sql, "b", true);
      await enqueueJobs(db.sql, [
        { queue: "b", kind: "t.fast", runAt: new Date(Date.now() - 90_000) },
        { queue: "b", kind: "t.fast" },
      ]);
      await w.start();
      await enqueueJobs(db.sql, Array.from({ length: 20 }, () => ({ queue: "a", kind: "t.fast" })));
      await waitFor(() => fast === 20, { what: "fast warm-up jobs" });
      // A success stays in flight until its batched completion is written: wait for the writes,
      // or the warm-up jobs would still count below.
      await waitFor(async () => {
        const [r] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM sluice.jobs WHERE queue = 'a' AND state = 'succeeded'`;
        return r!.n === 20;
      }, { what: "the warm-up completions written" });
      // Two long jobs take both slots; the three fast ones leased with them wait held.
      await enqueueJobs(db.sql, [
        { queue: "a", kind: "t.slow" },
        { queue: "a", kind: "t.slow" },
        ...Array.from({ length: 3 }, () => ({ queue: "a", kind: "t.fast" })),
      ]);
      await waitFor(() => w.queueStats().get("a")?.held === 3, { what: "three held jobs" });
      const h = await get("/healthz");
      const { version, commit } = versionInfo();
      const readAt = h.waitingReadAt;
      ok(typeof readAt === "string" && !Number.isNaN(Date.parse(readAt)), String(readAt));
      const b = h.queues[1].oldestWaitingSeconds;
      ok(b >= 89 && b < 120, `queue b's oldest waited ~90 s (${b})`);
      deepStrictEqual(h, {
        status: "ok",
        version,
        commit,
        inFlight: 2,
        held: 3,
        capacity: 2,
        queues: [
          { name: "a", inFlight: 2, held: 3, oldestWaitingSeconds: null },
          { name: "b", inFlight: 0, held: 0, oldestWaitingSeconds: b },
        ],
        waitingReadAt: readAt,
      });
      // The database figure is cached (60 s here): a newer, older job is not seen yet.
      await enqueueJobs(db.sql, [{
        queue: "b",
        kind: "t.fast",
        runAt: new Date(Date.now() - 600_000),
      }]);
      const again = await get("/health");
      equal(again.waitingReadAt, readAt);
      equal(again.queues[1].oldestWaitingSeconds, b);
      equal(again.capacity, 2);
    } finally {
      release();
      await w.stop();
      await server.close();
    }
  });
});

Deno.test("workerHealth() reads the database again after its TTL and answers without it when it hangs", async () => {
  await withTestDatabase(async (db) => {
    const log = createLogger({ write: () => {} });
    const source = { inFlight: 0, queueStats: () => new Map([["q", { inFlight: 0, held: 0 }]]) };
    await createQueue(db.sql, "q", {});
    const health = workerHealth(db.sql, () => source, { capacity: 4, log, ttlMs: 0 });
    equal((await health()).queues[0]!.oldestWaitingSeconds, null);
    await enqueueJobs(db.sql, [{ queue: "q", kind: "k", runAt: new Date(Date.now() - 30_000) }]);
    const s = (await health()).queues[0]!.oldestWaitingSeconds!;
    ok(s >= 29 && s < 60, `re-read after the TTL (${s})`);
    // A read that does not come back within waitMs is not waited for: the last figures answer.
    const locker = await db.sql.reserve();
    try {
      await locker`BEGIN`;
      await locker`LOCK TABLE sluice.jobs IN ACCESS EXCLUSIVE MODE`;
      const slow = workerHealth(db.sql, () => source, { capacity: 4, log, ttlMs: 0, waitMs: 100 });
      const t0 = performance.now();
      const r = await slow();
      ok(performance.now() - t0 < 2_000, "answered without waiting for the blocked read");
      equal(r.waitingReadAt, null);
      equal(r.queues[0]!.oldestWaitingSeconds, null);
      await locker`ROLLBACK`;
    } finally {
      locker.release();
    }
  });
});
