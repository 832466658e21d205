import { deepStrictEqual, equal } from "node:assert/strict";
import { createWorkflow, getWorkflow } from "../../src/queue/workflows.ts";
import { handlerMap } from "../../src/worker/handlers.ts";
import { Worker } from "../../src/worker/worker.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("Worker runs a workflow: handlers read their parents' results, releases wake the worker", async () => {
  await withTestDatabase(async (db) => {
    const seen: unknown[] = [];
    const w = new Worker({
      sql: db.sql,
      workerId: "wf-worker",
      queues: null,
      concurrency: 4,
      leaseMs: 30_000,
      // A release must wake the worker by its notification, not by a poll.
      pollMs: 60_000,
      shutdownGraceMs: 2_000,
      handlers: handlerMap({
        fetch: (p) => ({ fetched: (p as { url: string }).url }),
        count: () => ({ n: 3 }),
        parse: async (_p, ctx) => {
          const parents = await ctx.parents();
          seen.push(parents.map((x) => [x.key, x.state, x.result]));
          return { ok: true };
        },
        lonely: async (_p, ctx) => void seen.push(await ctx.parents()),
      }),
    });
    try {
      await w.start();
      const wf = await createWorkflow(db.sql, {
        name: "etl",
        jobs: [
          { key: "fetch", kind: "fetch", payload: { url: "u" } },
          { key: "count", kind: "count" },
          { key: "parse", kind: "parse", dependsOn: ["fetch", "count"] },
          { key: "solo", kind: "lonely" },
        ],
      });
      await waitFor(async () => (await getWorkflow(db.sql, wf.id)).state === "succeeded", {
        what: "the workflow to succeed",
      });
      equal(seen.length, 2);
      deepStrictEqual(seen.find((s) => Array.isArray(s) && s.length === 0), []);
      deepStrictEqual(seen.find((s) => Array.isArray(s) && s.length === 2), [
        ["fetch", "succeeded", { fetched: "u" }],
        ["count", "succeeded", { n: 3 }],
      ]);
    } finally {
      await w.stop();
    }
  });
});
