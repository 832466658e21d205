/**
 * Faults around the lease itself, with in-process workers (leases of a few hundred ms, which
 * the config's 1 s minimum does not allow for processes) and a real maintenance loop reaping.
 */
import { equal, ok as assert, rejects } from "node:assert/strict";
import { openDatabase } from "../../src/db/connect.ts";
import { startMaintenanceLoop } from "../../src/maintenance/loop.ts";
import { reaper } from "../../src/maintenance/reaper.ts";
import { silentLogger } from "../../src/obs/log.ts";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import type { LeasedJob } from "../../src/queue/job.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJob, completeJobs } from "../../src/queue/outcome.ts";
import { reapExpiredLeases } from "../../src/queue/rescue.ts";
import { isSluiceError } from "../../src/errors.ts";
import { handlerMap, sleep } from "../../src/worker/handlers.ts";
import { type Clock, systemClock } from "../../src/worker/clock.ts";
import { Worker, type WorkerOptions } from "../../src/worker/worker.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { Ledger } from "./_ledger.ts";
import { FULL } from "./_procs.ts";
import { PgProxy } from "./_proxy.ts";

const LEASE = 400;
const REAPER = 100;

function worker(sql: Sql, id: string, over: Partial<WorkerOptions> = {}): Worker {
  return new Worker({
    sql,
    workerId: id,
    queues: null,
    concurrency: 4,
    leaseMs: LEASE,
    pollMs: 100,
    shutdownGraceMs: 1_000,
    ...over,
  });
}

/** Just the reaper, every REAPER ms: the services these scenarios depend on. */
const REAPER_ONLY = {
  log: silentLogger,
  services: [reaper({ everyMs: REAPER })],
  holder: "lease-test",
  leaderTtlMs: 5_000,
};

Deno.test("a lease that expires while the handler runs (heartbeats cannot reach PostgreSQL)", async () => {
  await withTestDatabase(async (db) => {
    const ledger = new Ledger(db.sql);
    const proxy = new PgProxy(PgProxy.socketOf(db.url));
    const cutOff = await openDatabase({ databaseUrl: proxy.urlFor(db.url), dataDir: "", max: 4 });
    const maintenance = startMaintenanceLoop(db.sql, REAPER_ONLY);
    let first: LeasedJob | null = null;
    let abortedAfterMs: number | null = null;
    const partitioned = worker(cutOff, "partitioned", {
      handlers: handlerMap({
        "test.long": async (_p, { job, signal }) => {
          first = job;
          ledger.started(job.id, job.attempt);
          const t0 = performance.now();
          try {
            await sleep(LEASE * 8, signal);
          } catch (e) {
            abortedAfterMs = performance.now() - t0;
            throw e;
          }
          return "late";
        },
      }),
    });
    const healthy = worker(db.sql, "healthy", {
      handlers: handlerMap({
        "test.long": (_p, { job }) => {
          ledger.started(job.id, job.attempt);
          ledger.ended(job.id, job.attempt);
        },
      }),
    });
    try {
      await partitioned.start();
      const { job } = await enqueueJob(db.sql, { kind: "test.long", maxAttempts: 3 });
      ledger.accept([job.id]);
      ledger.faulted([job.id]);
      ledger.watch({ leaseMs: LEASE, reaperMs: REAPER, everyMs: 50 });
      await waitFor(() => first, { what: "attempt 1 to start" });
      proxy.blackhole();
      // Nothing from the partitioned worker reaches PostgreSQL now: no heartbeat, no outcome.
      await healthy.start();
      const done = await waitFor(async () => {
        const j = await getJob(db.sql, job.id);
        return j.state === "succeeded" ? j : null;
      }, { what: "attempt 2 to succeed elsewhere", timeoutMs: 10_000 });
      equal(done.attempt, 2);
      equal(done.workerId, "healthy");
      equal(done.errors[0]?.code, "LEASE_EXPIRED");
      // The partitioned worker gave up on its own once the lease it could not renew ran out,
      // instead of running on beside attempt 2.
      await waitFor(() => abortedAfterMs !== null, { what: "attempt 1 to be aborted" });
      assert(abortedAfterMs! < LEASE * 2, `aborted after ${abortedAfterMs} ms`);
      // The first attempt's late completion is refused.
      const fence = first! as LeasedJob;
      await rejects(
        () => completeJob(db.sql, fence),
        (e) => isSluiceError(e, "STALE_LEASE"),
      );
      proxy.restore();
      proxy.cut();
      await ledger.check({ leaseMs: LEASE, reaperMs: REAPER });
      equal((await getJob(db.sql, job.id)).state, "succeeded");
    } finally {
      ledger.stopWatch();
      proxy.restore();
      await Promise.all([partitioned.stop(), healthy.stop(), maintenance.stop()]);
      await cutOff.end({ timeout: 1 });
      proxy.close();
    }
  });
});

/**
 * The lease of the 10x test. A heartbeat goes out every third of the lease, so a lease survives
 * an event-loop stall of up to two thirds of it. At 300 ms that was 200 ms, which a machine at
 * load average ~20 exceeds, and then losing the lease is the product working as designed
 * (another attempt must be allowed to run): the test's premise failed, not the product. 1 s
 * tolerates stalls of ~660 ms and keeps the claim: the job lasts ten leases.
 */
const KEEP_LEASE = 1_000;
const BEAT_EVERY = Math.floor(KEEP_LEASE / 3);

/** The system clock, noting the largest gap between two heartbeat ticks (BEAT_EVERY timers). */
function beatTimedClock(): { clock: Clock; largestGapMs: () => number } {
  let last: number | null = null;
  let largest = 0;
  const clock: Clock = {
    ...systemClock,
    setInterval: (fn, ms) =>
      systemClock.setInterval(() => {
        if (ms === BEAT_EVERY) {
          const now = performance.now();
          if (last !== null) largest = Math.max(largest, now - last);
          last = now;
        }
        fn();
      }, ms),
  };
  return { clock, largestGapMs: () => largest };
}

Deno.test("heartbeats keep a job lasting 10x its lease on one attempt", async () => {
  await withTestDatabase(async (db) => {
    const ledger = new Ledger(db.sql);
    const maintenance = startMaintenanceLoop(db.sql, REAPER_ONLY);
    // Two workers: whichever leases the job, the other one must never get it.
    const handlers = handlerMap({
      "test.long": async (_p, { job, signal }) => {
        ledger.started(job.id, job.attempt);
        await sleep(KEEP_LEASE * 10, signal); // the scenario: a handler that takes ten leases
        ledger.ended(job.id, job.attempt);
      },
    });
    const beats = { keeper: beatTimedClock(), bystander: beatTimedClock() };
    const a = worker(db.sql, "keeper", {
      leaseMs: KEEP_LEASE,
      handlers,
      clock: beats.keeper.clock,
    });
    const b = worker(db.sql, "bystander", {
      leaseMs: KEEP_LEASE,
      handlers,
      clock: beats.bystander.clock,
    });
    try {
      await Promise.all([a.start(), b.start()]);
      const { job } = await enqueueJob(db.sql, { kind: "test.long" });
      ledger.accept([job.id]);
      ledger.watch({ leaseMs: KEEP_LEASE, reaperMs: REAPER, everyMs: 50 });
      await ledger.settle(KEEP_LEASE * 10 + 15_000);
      const j = await getJob(db.sql, job.id);
      equal(j.state, "succeeded");
      if (j.attempt > 1) {
        // A lost lease is correct only when this process could not send its heartbeats in
        // time: its beat timer then fired more than a lease minus one beat after the last.
        const holder = j.errors[0]?.worker as keyof typeof beats;
        const gap = Math.round(beats[holder]?.largestGapMs() ?? 0);
        assert(
          gap > KEEP_LEASE - BEAT_EVERY,
          `the lease was lost although heartbeats went out on time (largest gap ${gap} ms): ` +
            JSON.stringify(j.errors),
        );
        console.warn(
          `heartbeat 10x test: this machine stalled the heartbeat timer ${gap} ms (lease ` +
            `${KEEP_LEASE} ms), so the lease was rightly lost; the one-attempt claim was not tested`,
        );
        return;
      }
      equal(j.attempt, 1, JSON.stringify(j.errors));
      equal(j.errors.length, 0);
      const execs = await ledger.executions();
      equal(execs.length, 1, "one execution");
      // Nothing injected: check() demands exactly one execution.
      await ledger.check({ leaseMs: KEEP_LEASE, reaperMs: REAPER });
    } finally {
      await Promise.all([a.stop(), b.stop(), maintenance.stop()]);
    }
  });
});

Deno.test("completion racing the reaper: a succeeded job is never reverted", async () => {
  await withTestDatabase(async (db) => {
    const total = FULL ? 10_000 : 1_000;
    const round = 50;
    let completedWins = 0, reaperWins = 0;
    for (let done = 0; done < total; done += round) {
      const ids = (await enqueueJobs(
        db.sql,
        Array.from({ length: round }, () => ({ kind: "race", maxAttempts: 5 })),
      )).map((r) => r.job.id);
      const leased = await leaseJobs(db.sql, {
        queue: "default",
        workerId: "racer",
        max: round,
        leaseMs: 60_000,
      });
      equal(leased.length, round);
      // Let every lease run out within the next 30 ms, then fire the completions and reaper
      // passes at the same time: a completion wins only before its lease's expiry (an expired
      // lease is refused even before the reaper ran), the reaper only after it.
      await db.sql`UPDATE sluice.jobs
        SET lease_expires_at = now() + random() * interval '30 milliseconds'
        WHERE id = ANY(${ids}::bigint[])`;
      const [completions] = await Promise.all([
        Promise.all(leased.map((j) => completeJobs(db.sql, [j]))),
        reapExpiredLeases(db.sql),
        reapExpiredLeases(db.sql),
      ]);
      const won = new Set(completions.flatMap((s) => [...s]));
      await waitFor(async () => {
        await reapExpiredLeases(db.sql);
        const [r] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sluice.jobs
          WHERE id = ANY(${ids}::bigint[]) AND state = 'running'`;
        return r!.n === 0;
      }, { what: "the reaper to take every lease no completion won" });
      const rows = await db.sql<{ id: string; state: string; errors: { code: string }[] }[]>`
        SELECT id::text, state, errors FROM sluice.jobs WHERE id = ANY(${ids}::bigint[])`;
      for (const r of rows) {
        if (won.has(r.id)) {
          completedWins++;
          equal(r.state, "succeeded", `job ${r.id} was completed, then reverted`);
          equal(r.errors.length, 0, `job ${r.id} was completed and also reaped`);
        } else {
          reaperWins++;
          equal(r.state, "available", `job ${r.id} lost the race but is ${r.state}`);
          equal(r.errors[0]?.code, "LEASE_EXPIRED");
        }
      }
      // Clear the losers so the next round leases only its own jobs.
      await db.sql`UPDATE sluice.jobs SET state = 'cancelled', finished_at = now()
        WHERE state = 'available'`;
    }
    equal(completedWins + reaperWins, total);
    console.log(`race: ${completedWins} completions won, ${reaperWins} reaper wins of ${total}`);
    assert(completedWins > 0 && reaperWins > 0, "both sides won some races");
  }, { max: 20 });
});
