import { deepStrictEqual, ok } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { handlerMap } from "../../src/worker/handlers.ts";
import { Worker } from "../../src/worker/worker.ts";
import { createTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("a prefetching worker never runs more than its concurrency and gives held jobs back on stop", async () => {
  const db = await createTestDatabase();
  let running = 0, peak = 0, started = 0;
  let gate: () => void = () => {};
  const blocked = new Promise<void>((r) => (gate = r));
  const w = new Worker({
    sql: db.sql,
    workerId: "prefetch",
    queues: null,
    concurrency: 2,
    leaseMs: 30_000,
    pollMs: 200,
    shutdownGraceMs: 2_000,
    handlers: handlerMap({
      // Fast at first (so prefetch turns on), then every attempt blocks until the stop.
      "t.step": async () => {
        peak = Math.max(peak, ++running);
        try {
          if (++started > 20) await blocked;
        } finally {
          running--;
        }
      },
    }),
  });
  try {
    await w.start();
    await enqueueJobs(db.sql, Array.from({ length: 100 }, () => ({ kind: "t.step" })));
    await waitFor(() => started >= 22, { what: "two blocked attempts" });
    const [{ n }] = await db.sql<[{ n: number }]>`
      SELECT count(*)::int AS n FROM sluice.jobs WHERE state = 'running'`;
    // Attempts of well under a millisecond: the worker holds what its slots get through in
    // ~50 ms, far more than twice its concurrency.
    ok(n > 4, `held beyond twice the two slots (${n} running in the database)`);
    ok(peak <= 2, `never more than 2 at once (peak ${peak})`);
    const stopping = w.stop();
    gate();
    await stopping;
    const rows = await db.sql<{ state: string; attempt: number }[]>`
      SELECT state, attempt FROM sluice.jobs WHERE state <> 'succeeded'`;
    deepStrictEqual([...new Set(rows.map((r) => `${r.state}/${r.attempt}`))], ["available/0"]);
  } finally {
    await w.stop();
    await db.drop();
  }
});
