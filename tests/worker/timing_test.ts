import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { getQueues } from "../../src/queue/queues.ts";
import { listWorkers, registerWorker } from "../../src/queue/workers.ts";
import { createLogger, silentLogger } from "../../src/obs/log.ts";
import { type Attempt, Attempts } from "../../src/worker/attempt.ts";
import { checkDeadlines, Deadlines } from "../../src/worker/deadlines.ts";
import { JobFailure } from "../../src/worker/failure.ts";
import { handlerMap } from "../../src/worker/handlers.ts";
import { Heartbeat } from "../../src/worker/heartbeat.ts";
import { Worker, type WorkerOptions } from "../../src/worker/worker.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { FakeClock } from "./_fake_clock.ts";

// Time in these tests moves only when a test moves it: a deadline is asserted to the millisecond
// on either side, with no sleep and no wall-clock margin.

function worker(sql: Sql, clock: FakeClock, over: Partial<WorkerOptions> = {}): Worker {
  return new Worker({
    sql,
    workerId: `timing-${crypto.randomUUID().slice(0, 8)}`,
    queues: null,
    concurrency: 1,
    leaseMs: 30_000,
    pollMs: 200,
    shutdownGraceMs: 2_000,
    clock,
    ...over,
  });
}

/** `t.block` runs until its abort (or `release()`), and hands its signal out. */
function blocking() {
  let signal: AbortSignal | undefined;
  let release: () => void = () => {};
  const released = new Promise<void>((r) => (release = r));
  const handlers = handlerMap({
    "t.fast": () => {},
    "t.block": (_p, ctx) =>
      new Promise<void>((resolve) => {
        signal = ctx.signal;
        released.then(resolve);
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      }),
  });
  return { handlers, signal: () => signal, release };
}

const codeOf = (s: AbortSignal | undefined) => (s?.reason as JobFailure | undefined)?.code;

Deno.test("Deadlines fires once for the earliest deadline armed, then at the next one it returns", () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  const d = new Deadlines(clock, (now) => {
    fired.push(now);
    return fired.length === 1 ? 120 : Infinity;
  });
  d.arm(100);
  d.arm(50);
  d.arm(200); // later than what is armed: no second timer
  clock.advance(49);
  deepStrictEqual(fired, []);
  clock.advance(1);
  deepStrictEqual(fired, [51], "at 50, with its 1 ms of slack");
  clock.advance(69);
  equal(fired.length, 1);
  clock.advance(1);
  deepStrictEqual(fired, [51, 121]);
  clock.advance(1_000);
  equal(fired.length, 2, "nothing armed after Infinity");
});

Deno.test("checkDeadlines: a lease that runs out first loses the attempt; a timeout first fails it", () => {
  const running = (id: string, leaseDeadline: number, timeoutAt: number): Attempt => ({
    job: { id } as Attempt["job"],
    queue: {} as Attempt["queue"],
    state: {
      tag: "running",
      run: {
        controller: new AbortController(),
        startedAt: 0,
        timeoutAt,
        timeoutMs: timeoutAt,
        leaseDeadline,
        shortLease: false,
      },
    },
  });
  const list = [
    running("lease", 100, 500),
    running("timeout", 900, 100),
    running("later", 300, 400),
  ];
  const lost: string[] = [], timedOut: string[] = [];
  const next = checkDeadlines(list, 100, {
    leaseExpired: (a) => lost.push(a.job.id),
    timedOut: (a) => timedOut.push(a.job.id),
  });
  deepStrictEqual([lost, timedOut, next], [["lease"], ["timeout"], 300]);
});

Deno.test("a worker's attempt times out at its timeout by the injected clock, not a millisecond before", async () => {
  await withTestDatabase(async (db) => {
    const clock = new FakeClock();
    const b = blocking();
    const w = worker(db.sql, clock, { handlers: b.handlers });
    try {
      await w.start();
      const { job } = await enqueueJob(db.sql, { kind: "t.block", timeoutMs: 5_000 });
      await waitFor(() => b.signal(), { what: "the attempt started" });
      clock.advance(4_999);
      equal(b.signal()!.aborted, false, "still running at 4,999 ms");
      clock.advance(1);
      equal(codeOf(b.signal()), "TIMEOUT");
      const row = await waitFor(async () => {
        const [r] = await db.sql<{ state: string; code: string | null }[]>`
          SELECT state, errors -> -1 ->> 'code' AS code FROM sluice.jobs WHERE id = ${job.id}`;
        return r?.code ? r : null;
      }, { what: "the timeout recorded" });
      deepStrictEqual(row, { state: "retrying", code: "TIMEOUT" });
      await waitFor(() => w.inFlight === 0, { what: "the slot freed" });
    } finally {
      b.release();
      await w.stop();
    }
  });
});

Deno.test("a lease no heartbeat renewed in time is lost by the worker's own clock (heartbeats sent, none answered)", async () => {
  await withTestDatabase(async (db) => {
    const clock = new FakeClock();
    const b = blocking();
    const lines: string[] = [];
    const w = worker(db.sql, clock, {
      handlers: b.handlers,
      log: createLogger({ write: (l) => lines.push(l) }),
    });
    try {
      await w.start();
      await enqueueJob(db.sql, { kind: "t.block", timeoutMs: 120_000 });
      await waitFor(() => b.signal(), { what: "the attempt started" });
      // One synchronous stretch: the beats at 10 s and 20 s are sent, but no reply can be read
      // before the lease (30 s from the lease statement) runs out, as for a worker cut off.
      clock.advance(29_999);
      equal(b.signal()!.aborted, false, "still leased at 29,999 ms");
      clock.advance(1);
      equal(codeOf(b.signal()), "STALE_LEASE");
      const lost = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "lease_lost");
      equal(lost?.reason, "expired_without_heartbeat");
      equal(w.inFlight, 0, "its slot is freed at once");
    } finally {
      b.release();
      await w.stop();
    }
  });
});

Deno.test("Heartbeat sends its first beat at a third of the lease and counts the renewed lease from when it was sent", async () => {
  await withTestDatabase(async (db) => {
    const clock = new FakeClock();
    await registerWorker(db.sql, {
      id: "hb",
      host: "h",
      pid: 1,
      queues: ["*"],
      concurrency: 1,
      version: "t",
      metricsAddr: null,
    });
    await enqueueJob(db.sql, { kind: "t.any" });
    const [queue] = [...(await getQueues(db.sql, ["default"])).values()];
    const [job] = await leaseJobs(db.sql, {
      queue: "default",
      workerId: "hb",
      max: 1,
      leaseMs: 30_000,
    });
    const attempts = new Attempts();
    const a: Attempt = {
      job: job!,
      queue: queue!,
      state: {
        tag: "running",
        run: {
          controller: new AbortController(),
          startedAt: 0,
          timeoutAt: 60_000,
          timeoutMs: 60_000,
          leaseDeadline: 30_000,
          shortLease: false,
        },
      },
    };
    attempts.add(a);
    let armed: (at: number) => void = () => {};
    const renewal = new Promise<number>((r) => (armed = r));
    const hb = new Heartbeat({
      sql: db.sql,
      workerId: "hb",
      leaseMs: 30_000,
      clock,
      log: silentLogger,
      attempts,
      onLost: () => {
        throw new Error("not lost");
      },
      armDeadline: (at) => armed(at),
      onCancel: () => Promise.resolve(),
      onQuiet: () => {},
    });
    const before = await expiry(db.sql, job!.id);
    hb.start();
    clock.advance(9_999);
    equal(hb.beatsInFlight, 0, "no beat before a third of the lease");
    clock.advance(1);
    equal(hb.beatsInFlight, 1, "a beat at 10,000 ms");
    equal(await renewal, 40_000, "the local deadline is a lease from when the beat was sent");
    equal(a.state.tag === "running" && a.state.run.leaseDeadline, 40_000);
    ok((await expiry(db.sql, job!.id)) > before, "the lease row moved");
    hb.stop();
  });
});

async function expiry(sql: Sql, id: string): Promise<number> {
  const [r] = await sql<
    { t: Date }[]
  >`SELECT lease_expires_at AS t FROM sluice.jobs WHERE id = ${id}`;
  return r!.t.getTime();
}

Deno.test("held jobs go back to the queue when they have not started 1,000 ms after their lease, by the injected clock", async () => {
  await withTestDatabase(async (db) => {
    const clock = new FakeClock();
    const b = blocking();
    const lines: string[] = [];
    const w = worker(db.sql, clock, {
      workerId: "held",
      handlers: b.handlers,
      log: createLogger({ write: (l) => lines.push(l) }),
    });
    const heldOf = () => [...w.queueStats().values()].reduce((n, s) => n + s.held, 0);
    const releasedCount = () =>
      lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "held_jobs_released")
        .reduce((n, l) => n + l.count, 0);
    try {
      await w.start();
      // Instant attempts (the clock stands still) turn prefetch on.
      await enqueueJobs(db.sql, Array.from({ length: 20 }, () => ({ kind: "t.fast" })));
      await waitFor(async () => {
        const [r] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM sluice.jobs WHERE state = 'succeeded'`;
        return r!.n === 20;
      }, { what: "fast warm-up jobs" });
      const [slow, ...fast] = (await enqueueJobs(db.sql, [
        { kind: "t.block" },
        ...Array.from({ length: 5 }, () => ({ kind: "t.fast" })),
      ])).map((r) => r.job.id);
      await waitFor(() => heldOf() === 5, { what: "five held jobs" });
      clock.advance(999);
      // Every loop turn from now on sees 999 ms; the one that renews the long job (due at 50 ms)
      // also looked at the held jobs, so once the renewal shows, a turn has kept them.
      await waitFor(async () => {
        const [x] = (await listWorkers(db.sql)).filter((x) => x.id === "held");
        return x?.runningJobIds[0] === slow;
      }, { what: "the long job renewed" });
      equal(heldOf(), 5, "not released at 999 ms");
      equal(releasedCount(), 0);
      clock.advance(1);
      await waitFor(() => releasedCount() === 5, { what: "held_jobs_released for five jobs" });
      const [back] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM sluice.jobs
        WHERE id = ANY(${fast}::bigint[]) AND state = 'available' AND attempt = 0`;
      equal(back!.n, 5);
      equal(heldOf(), 0);
    } finally {
      b.release();
      await w.stop();
    }
  });
});
