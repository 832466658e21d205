import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob, jobTimeline } from "../../src/queue/inspect.ts";
import { cancelJob } from "../../src/queue/cancel.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { handlerMap, sleep } from "../../src/worker/handlers.ts";
import { type AttemptEvent, Worker, type WorkerOptions } from "../../src/worker/worker.ts";
import { createTestDatabase, jobStates, type Sql } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { FakeClock } from "./_fake_clock.ts";

function worker(sql: Sql, over: Partial<WorkerOptions> = {}): Worker {
  return new Worker({
    sql,
    workerId: `test-${crypto.randomUUID().slice(0, 8)}`,
    queues: null,
    concurrency: 10,
    leaseMs: 30_000,
    pollMs: 200,
    shutdownGraceMs: 2_000,
    ...over,
  });
}

const states = jobStates;

Deno.test("Worker runs built-in kinds concurrently and completes them", async () => {
  const db = await createTestDatabase();
  let running = 0, peak = 0;
  const w = worker(db.sql, {
    concurrency: 20,
    handlers: handlerMap({
      "test.overlap": async (_p, { signal }) => {
        peak = Math.max(peak, ++running);
        try {
          await sleep(100, signal);
        } finally {
          running--;
        }
      },
    }),
  });
  try {
    await w.start();
    await enqueueJobs(db.sql, [
      ...Array.from({ length: 200 }, () => ({ kind: "sluice.noop" })),
      ...Array.from({ length: 40 }, () => ({ kind: "test.overlap" })),
    ]);
    await waitFor(async () => (await states(db.sql)).succeeded === 240, { what: "240 successes" });
    assert(
      peak > 1 && peak <= 20,
      `attempts overlapped up to the concurrency limit (peak ${peak})`,
    );
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker wakes on NOTIFY, with a poll interval that never passes", async () => {
  const db = await createTestDatabase();
  // Time stands still: the 60 s poll (and the 25 ms recheck after a notification) never fire,
  // so only a notification can wake the loop.
  const clock = new FakeClock();
  const w = worker(db.sql, { pollMs: 60_000, clock });
  try {
    await w.start();
    await waitFor(() => clock.waitingFor(60_000), { what: "the loop asleep on its poll" });
    for (let i = 0; i < 5; i++) {
      const { job } = await enqueueJob(db.sql, { kind: "sluice.noop" });
      await waitFor(async () => (await getJob(db.sql, job.id)).state === "succeeded", {
        intervalMs: 2,
        what: `job ${i + 1} done`,
      });
    }
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker fails a job past its timeout as TIMEOUT and the handler sees the abort", async () => {
  const db = await createTestDatabase();
  let aborted: unknown = null;
  const w = worker(db.sql, {
    handlers: handlerMap({
      "test.hang": async (_p, { signal }) => {
        try {
          await sleep(60_000, signal);
        } catch (e) {
          aborted = e;
          throw e;
        }
      },
    }),
  });
  try {
    await w.start();
    const { job } = await enqueueJob(db.sql, { kind: "test.hang", timeoutMs: 150, maxAttempts: 1 });
    const dead = await waitFor(async () => {
      const j = await getJob(db.sql, job.id);
      return j.state === "dead" ? j : null;
    });
    equal(dead.deadReason, "DEAD_TIMEOUT");
    equal(dead.lastError?.code, "TIMEOUT");
    assert(aborted, "the handler's signal was aborted");
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker fails a kind without handler as NO_HANDLER, visible in explain", async () => {
  const db = await createTestDatabase();
  const w = worker(db.sql);
  try {
    await w.start();
    const { job } = await enqueueJob(db.sql, { kind: "nobody.handles.this", maxAttempts: 2 });
    await waitFor(async () =>
      (await getJob(db.sql, job.id)).state !== "available" &&
      (await getJob(db.sql, job.id)).attempt > 0
    );
    const j = await waitFor(async () => {
      const x = await getJob(db.sql, job.id);
      return x.errors.length > 0 ? x : null;
    });
    equal(j.errors[0]!.code, "NO_HANDLER");
    const ex = await explainJob(db.sql, job.id);
    assert(ex.explain.sentence.includes("NO_HANDLER"), ex.explain.sentence);
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker aborts a handler whose lease was lost and its late outcome changes nothing", async () => {
  const db = await createTestDatabase();
  let sawAbort = false;
  const w = worker(db.sql, {
    leaseMs: 300,
    handlers: handlerMap({
      "test.slow": async (_p, { signal }) => {
        signal.addEventListener("abort", () => (sawAbort = true));
        await sleep(2_000);
        return "late";
      },
    }),
  });
  try {
    await w.start();
    const { job } = await enqueueJob(db.sql, { kind: "test.slow", maxAttempts: 3 });
    await waitFor(async () => (await getJob(db.sql, job.id)).state === "running");
    // Someone else takes the job over (what the reaper does after an expiry).
    await db
      .sql`UPDATE sluice.jobs SET lease_secret = 'leased-again-elsewhere' WHERE id = ${job.id}`;
    await waitFor(() => sawAbort, { what: "abort after lost lease" });
    const j = await getJob(db.sql, job.id);
    equal(j.state, "running", "the lost attempt recorded nothing");
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker aborts a running job that an operator cancels", async () => {
  const db = await createTestDatabase();
  const events: AttemptEvent[] = [];
  const w = worker(db.sql, { leaseMs: 300, onAttempt: (e) => events.push(e) });
  try {
    await w.start();
    const { job } = await enqueueJob(db.sql, { kind: "sluice.sleep", payload: { ms: 20_000 } });
    await waitFor(async () => (await getJob(db.sql, job.id)).state === "running");
    await cancelJob(db.sql, job.id);
    const j = await waitFor(async () => {
      const x = await getJob(db.sql, job.id);
      return x.state === "cancelled" ? x : null;
    });
    equal(j.cancelRequested, true);
    deepStrictEqual(events.map((e) => e.status), ["cancelled"]);
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker.stop() lets running jobs finish within the grace and releases the rest", async () => {
  const db = await createTestDatabase();
  const w = worker(db.sql, { concurrency: 4, shutdownGraceMs: 500 });
  try {
    await w.start();
    const quick = await enqueueJobs(
      db.sql,
      Array.from({ length: 2 }, () => ({ kind: "sluice.sleep", payload: { ms: 150 } })),
    );
    const slow = await enqueueJobs(
      db.sql,
      Array.from({ length: 2 }, () => ({ kind: "sluice.sleep", payload: { ms: 30_000 } })),
    );
    await waitFor(async () => (await states(db.sql)).running === 4);
    // Jobs enqueued now must not be leased by a stopping worker.
    await w.stop();
    await enqueueJob(db.sql, { kind: "sluice.noop" });
    for (const r of quick) equal((await getJob(db.sql, r.job.id)).state, "succeeded");
    for (const r of slow) {
      const j = await getJob(db.sql, r.job.id);
      equal(j.state, "available");
      equal(j.attempt, 0, "a released attempt is not counted");
      // The timeline keeps the lease that was given back (issue #21.9).
      const { timeline } = await jobTimeline(db.sql, r.job.id);
      deepStrictEqual(timeline.map((e) => [e.event, e.attempt, e.workerId]), [
        ["enqueued", 0, null],
        ["leased", 1, w.id],
        ["lease_released", 1, w.id],
      ]);
      deepStrictEqual(timeline[2]!.detail, { reason: "shutdown" });
    }
    const [row] = await db.sql`SELECT stopped_at FROM sluice.workers WHERE id = ${w.id}`;
    assert(row!.stopped_at, "the worker is marked stopped");
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker delivers exec queues: exit 0 ok, 75 retry, other failure, killed at timeout", async () => {
  const db = await createTestDatabase();
  const w = worker(db.sql);
  try {
    await createQueue(db.sql, "shell", {
      delivery: {
        mode: "exec",
        command: `read -r body; case "$body" in
          *'"ok"'*) echo '{"echo":'"$SLUICE_ATTEMPT"'}' ;;
          *'"tempfail"'*) echo "busy" >&2; exit 75 ;;
          *'"hang"'*) sleep 30 ;;
          *) echo "bad input" >&2; exit 3 ;;
        esac`,
      },
      backoff: { baseMs: 10, maxMs: 10 },
    });
    await w.start();
    const [ok, temp, bad, hang] = await enqueueJobs(db.sql, [
      { queue: "shell", kind: "k", payload: { do: "ok" } },
      { queue: "shell", kind: "k", payload: { do: "tempfail" }, maxAttempts: 2 },
      { queue: "shell", kind: "k", payload: { do: "explode" }, maxAttempts: 1 },
      { queue: "shell", kind: "k", payload: { do: "hang" }, maxAttempts: 1, timeoutMs: 300 },
    ]);
    const done = async (id: string) =>
      await waitFor(async () => {
        const j = await getJob(db.sql, id);
        return ["succeeded", "dead"].includes(j.state) ? j : null;
      }, { timeoutMs: 15_000 });
    deepStrictEqual((await done(ok!.job.id)).result, { echo: 1 });
    const t = await done(temp!.job.id);
    deepStrictEqual(t.errors.map((e) => e.code), ["EXEC_TEMPFAIL", "EXEC_TEMPFAIL"]);
    const b = await done(bad!.job.id);
    equal(b.lastError?.code, "EXEC_EXIT");
    assert(b.lastError?.message.includes("bad input"));
    equal((await done(hang!.job.id)).deadReason, "DEAD_TIMEOUT");
  } finally {
    await w.stop();
    await db.drop();
  }
});

Deno.test("Worker starts the first job of a queue created while it runs within 2 s (issue #21.10)", async (t) => {
  const db = await createTestDatabase();
  // A long poll: only a notification can make it look again in time.
  const w = worker(db.sql, { pollMs: 60_000 });
  const startDelay = async (queue: string) => {
    const t0 = Date.now();
    const { job } = await enqueueJob(db.sql, { queue, kind: "sluice.noop" });
    await waitFor(async () => (await getJob(db.sql, job.id)).startedAt !== null, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: `job ${job.id} on '${queue}' started`,
    });
    return Date.now() - t0;
  };
  try {
    await w.start();
    await t.step("a queue created through createQueue()", async () => {
      await createQueue(db.sql, "fresh-a");
      const ms = await startDelay("fresh-a");
      assert(ms < 2_000, `enqueue → start took ${ms} ms (the queue-list refresh is 5 s)`);
    });
    await t.step("a queue whose creation was not announced (an older build, SQL)", async () => {
      await db.sql`INSERT INTO sluice.queues (name) VALUES ('fresh-b')`;
      const ms = await startDelay("fresh-b");
      assert(ms < 2_000, `enqueue → start took ${ms} ms (the queue-list refresh is 5 s)`);
    });
  } finally {
    await w.stop();
    await db.drop();
  }
});
