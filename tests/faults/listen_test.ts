/**
 * Fault: the worker's LISTEN connection is killed (`pg_terminate_backend`): pickup carries on
 * through the fallback poll and the listener comes back.
 */
import { ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { Ledger } from "./_ledger.ts";
import {
  LEASE_MS,
  REAPER_MS,
  type SluiceProcess,
  spawnSluice,
  started,
  stopAll,
  tempExecFile,
} from "./_procs.ts";

const POLL_MS = 200;

async function listeners(sql: Sql): Promise<number[]> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
  return rows.map((r) => r.pid);
}

/** Enqueue → lease latency of one job, from PostgreSQL's own timestamps. */
async function pickupMs(sql: Sql, ledger: Ledger): Promise<number> {
  const [r] = await enqueueJobs(sql, [{ queue: "listen", kind: "sleep:0" }]);
  ledger.accept([r!.job.id]);
  const row = await waitFor(async () => {
    const [x] = await sql<{ ms: number | null }[]>`
      SELECT (extract(epoch FROM leased_at - created_at) * 1000)::int AS ms
      FROM sluice.jobs WHERE id = ${r!.job.id}`;
    return x!.ms !== null ? x : null;
  }, { timeoutMs: 10_000, intervalMs: 10, what: "pickup" });
  return row.ms!;
}

Deno.test("LISTEN connection killed: pickup within 2x poll, the listener comes back", async () => {
  await withTestDatabase(async (db) => {
    const execFile = await tempExecFile();
    const ledger = new Ledger(db.sql, { execFile });
    const procs: SluiceProcess[] = [];
    try {
      await createQueue(db.sql, "listen", {
        delivery: { mode: "exec", command: ledger.execCommand() },
      });
      const w = spawnSluice("listener", "worker", db.url, {
        SLUICE_QUEUES: "listen",
        SLUICE_POLL: `${POLL_MS}ms`,
      });
      procs.push(w);
      await started(w);
      ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
      const before = await waitFor(async () => {
        const l = await listeners(db.sql);
        return l.length === 1 ? l : null;
      }, { what: "the worker's LISTEN connection" });

      const [{ killed }] = await db.sql<[{ killed: boolean }]>`
        SELECT pg_terminate_backend(${before[0]!}) AS killed`;
      assert(killed);
      const samples: number[] = [];
      for (let i = 0; i < 6; i++) samples.push(await pickupMs(db.sql, ledger));
      samples.sort((a, b) => a - b);
      // Every pickup within two poll intervals, plus scheduling slack on a busy 2-core machine.
      assert(samples.at(-1)! <= 2 * POLL_MS + 300, `pickups ${samples.join(",")} ms`);
      assert(samples[3]! <= 2 * POLL_MS, `median pickup ${samples[3]} ms`);

      const after = await waitFor(async () => {
        const l = await listeners(db.sql);
        return l.length === 1 && l[0] !== before[0] ? l : null;
      }, { timeoutMs: 5_000, what: "a new LISTEN connection" });
      assert(after[0] !== before[0]);
      await ledger.settle(10_000);
      await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
    } finally {
      ledger.stopWatch();
      await stopAll(procs);
      await Deno.remove(execFile).catch(() => {});
    }
  });
});
