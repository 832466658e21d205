/**
 * Fault: a `sluice worker` process dies (kill -9) or freezes (SIGSTOP) with jobs in flight,
 * while a `sluice up` (worker + maintenance reaper) keeps running.
 */
import { equal, ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob, jobTimeline } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { type Sql, type TestDatabase, withTestDatabase } from "../_helpers/db.ts";
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

async function runningOn(sql: Sql, worker: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    SELECT id::text FROM sluice.jobs WHERE state = 'running' AND worker_id = ${worker}`;
  return rows.map((r) => r.id);
}

/** Runs `fn` with a fresh database, an exec ledger and the two queues; removes them after. */
function withSetUp<T>(
  victimQueue: string,
  fn: (s: { db: TestDatabase; ledger: Ledger }) => Promise<T>,
): Promise<T> {
  return withTestDatabase(async (db) => {
    const execFile = await tempExecFile();
    try {
      const ledger = new Ledger(db.sql, { execFile });
      // The victim serves its own queue so the test knows which jobs it holds when it dies; the
      // survivor serves both, so it must pick the victim's jobs up after the lease expires.
      await createQueue(db.sql, victimQueue, {
        delivery: { mode: "exec", command: ledger.execCommand() },
      });
      await createQueue(db.sql, "shared", {
        delivery: { mode: "exec", command: ledger.execCommand() },
      });
      return await fn({ db, ledger });
    } finally {
      await Deno.remove(execFile).catch(() => {});
    }
  });
}

Deno.test("kill -9 of a sluice worker mid-job: its jobs re-run after the lease with LEASE_EXPIRED", async () => {
  await withSetUp("victim", async ({ db, ledger }) => {
    const procs: SluiceProcess[] = [];
    try {
      const victim = spawnSluice("victim", "worker", db.url, { SLUICE_QUEUES: "victim" }, [
        "--concurrency",
        "4",
      ]);
      procs.push(victim);
      await started(victim);
      ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });

      // Long jobs while only the victim runs, so it surely holds them when it dies.
      const long = await enqueueJobs(
        db.sql,
        Array.from({ length: 4 }, () => ({ queue: "victim", kind: "sleep:4" })),
      );
      ledger.accept(long.map((r) => r.job.id));
      const held = await waitFor(async () => {
        const ids = await runningOn(db.sql, "victim");
        return ids.length === 4 ? ids : null;
      }, { what: "the victim to lease" });
      const survivor = spawnSluice("survivor", "up", db.url, { SLUICE_QUEUES: "victim,shared" });
      procs.push(survivor);
      await started(survivor);
      const other = await enqueueJobs(
        db.sql,
        Array.from({ length: 20 }, (_, i) => ({ queue: "shared", kind: `sleep:0.0${i % 5}` })),
      );
      ledger.accept(other.map((r) => r.job.id));

      victim.signal("SIGKILL");
      const killedAt = Date.now();
      await victim.status;
      const orphans = await runningOn(db.sql, "victim");
      ledger.faulted(orphans);
      assert(orphans.length >= held.length, "the killed worker's jobs stay leased until expiry");

      await ledger.settle(30_000);
      const summary = await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
      for (const id of orphans) {
        const j = await getJob(db.sql, id);
        equal(j.state, "succeeded", `job ${id}`);
        assert(j.attempt >= 2, `job ${id} re-ran with attempt ${j.attempt}`);
        equal(j.errors[0]?.code, "LEASE_EXPIRED");
        equal(j.errors[0]?.worker, "victim");
        const { timeline } = await jobTimeline(db.sql, id);
        assert(timeline.some((e) => e.event === "lease_expired"), JSON.stringify(timeline));
        // Recovery within lease + reaper pass + the survivor's run (4 s) + slack.
        const done = Date.parse(j.finishedAt!);
        assert(done - killedAt < LEASE_MS + REAPER_MS + 4_000 + 5_000, `${done - killedAt} ms`);
      }
      assert(summary.succeeded === 24, JSON.stringify(summary));
    } finally {
      ledger.stopWatch();
      await stopAll(procs);
    }
  });
});

Deno.test("SIGSTOP of a sluice worker past its lease: another attempt runs, the frozen one is refused", async () => {
  await withSetUp("frozen", async ({ db, ledger }) => {
    const procs: SluiceProcess[] = [];
    try {
      const frozen = spawnSluice("frozen", "worker", db.url, { SLUICE_QUEUES: "frozen" }, [
        "--concurrency",
        "2",
      ]);
      procs.push(frozen);
      await started(frozen);
      ledger.watch({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });

      const jobs = await enqueueJobs(
        db.sql,
        Array.from({ length: 2 }, () => ({ queue: "frozen", kind: "sleep:5" })),
      );
      ledger.accept(jobs.map((r) => r.job.id));
      const held = await waitFor(async () => {
        const ids = await runningOn(db.sql, "frozen");
        return ids.length === 2 ? ids : null;
      }, { what: "the frozen worker to lease both" });
      const survivor = spawnSluice("survivor", "up", db.url, { SLUICE_QUEUES: "frozen,shared" });
      procs.push(survivor);
      await started(survivor);
      ledger.faulted(held);
      frozen.signal("SIGSTOP");
      // The survivor takes them over once the lease expires and the reaper runs.
      await waitFor(async () => {
        for (const id of held) {
          const j = await getJob(db.sql, id);
          if (!(j.state === "running" && j.workerId === "survivor" && j.attempt === 2)) {
            return false;
          }
        }
        return true;
      }, { what: "the survivor to run attempt 2 of both", timeoutMs: 15_000 });
      const mark = frozen.lines.length;
      frozen.signal("SIGCONT");
      // Thawed: its heartbeat finds the lease gone and aborts the handlers.
      await frozen.waitLog("lease_lost", { from: mark });
      await ledger.settle(20_000);
      await ledger.check({ leaseMs: LEASE_MS, reaperMs: REAPER_MS });
      for (const id of held) {
        const j = await getJob(db.sql, id);
        equal(j.state, "succeeded");
        equal(j.attempt, 2);
        equal(j.workerId, "survivor");
      }
      assert(
        !frozen.lines.some((l) => l.msg === "job_succeeded"),
        "the frozen worker never reported a success",
      );
    } finally {
      ledger.stopWatch();
      await stopAll(procs);
    }
  });
});
