/**
 * The races of issue #16, forced in both orders on real concurrent connections: each case holds
 * one transaction open at the point that matters, starts the other on its own connection, waits
 * until PostgreSQL reports that one waiting for the row lock (pg_stat_activity), and only then
 * commits the first. No sleeps: the interleaving is the one named, every run.
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import type { Sql, Tx } from "../../src/db/connect.ts";
import { addJobs, closeBatch, createBatch, getBatch } from "../../src/queue/batches.ts";
import { enqueueWithParents } from "../../src/queue/dependencies.ts";
import { enqueueJob } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import type { LeasedJob } from "../../src/queue/job.ts";
import { completeJobs } from "../../src/queue/outcome.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { leaseAll } from "./_fixtures.ts";

/** A transaction on its own connection, held open until `commit()`. */
function openTx(sql: Sql) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let ready!: (v: { tx: Tx; pid: number }) => void;
  const opened = new Promise<{ tx: Tx; pid: number }>((r) => (ready = r));
  const done = sql.begin(async (tx) => {
    const [{ pid }] = await tx<[{ pid: number }]>`SELECT pg_backend_pid() AS pid`;
    ready({ tx, pid });
    await gate;
  });
  return {
    opened,
    done,
    commit: async () => {
      release();
      await done;
    },
  };
}

/** Resolves once backend `pid` waits for a lock: the other transaction is really in its way. */
function waitingForLock(sql: Sql, pid: number) {
  return waitFor(async () => {
    const [r] = await sql<{ w: string | null }[]>`
      SELECT wait_event_type AS w FROM pg_stat_activity WHERE pid = ${pid}`;
    return r?.w === "Lock";
  }, { what: `backend ${pid} to wait for a lock` });
}

const fence = (j: LeasedJob) => ({ id: j.id, attempt: j.attempt, leaseToken: j.leaseToken });

Deno.test("two transactions finishing the last two parents at once release the child exactly once", async (t) => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    for (const first of ["p1", "p2"] as const) {
      await t.step(`${first} commits first`, async () => {
        const p1 = (await enqueueJob(sql, { kind: "p1" })).job.id;
        const p2 = (await enqueueJob(sql, { kind: "p2" })).job.id;
        const [c] = await enqueueWithParents(sql, [{ kind: "c", dependsOn: [p1, p2] }]);
        const leased = await leaseAll(sql);
        const a = openTx(sql), b = openTx(sql);
        const { tx: ta } = await a.opened;
        const { tx: tb, pid: pb } = await b.opened;
        const [x, y] = first === "p1" ? [p1, p2] : [p2, p1];
        // The first finisher decrements the child and holds its row lock...
        deepStrictEqual([...await completeJobs(ta, [fence(leased.get(x)!)])], [x]);
        // ...the second finishes its parent and waits for that lock in the trigger.
        const second = completeJobs(tb, [fence(leased.get(y)!)]);
        await waitingForLock(sql, pb);
        equal((await getJob(sql, c!.job.id)).state, "blocked");
        await a.commit();
        deepStrictEqual([...await second], [y]);
        await b.commit();
        const child = await getJob(sql, c!.job.id);
        equal(child.state, "available");
        equal(child.composition!.parentsPending, 0, "decremented once per parent, never below");
        const again = await leaseAll(sql);
        deepStrictEqual([...again.keys()], [c!.job.id]);
        await completeJobs(sql, [fence(again.get(c!.job.id)!)]);
      });
    }
  }, { max: 6 });
});

Deno.test("a parent finishing while its child is being enqueued never leaves the child blocked", async (t) => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await t.step("the enqueue locks the parent first; the completion waits for it", async () => {
      const p = (await enqueueJob(sql, { kind: "p" })).job.id;
      const leased = await leaseAll(sql);
      const enq = openTx(sql), fin = openTx(sql);
      const { tx: te } = await enq.opened;
      const { tx: tf, pid: pf } = await fin.opened;
      const [c] = await enqueueWithParents(te, [{ kind: "c", dependsOn: [p] }]);
      equal(c!.job.state, "blocked", "the parent was running when the enqueue read it");
      const completing = completeJobs(tf, [fence(leased.get(p)!)]);
      await waitingForLock(sql, pf);
      await enq.commit();
      deepStrictEqual([...await completing], [p]);
      await fin.commit();
      // The completion re-read the parent row after the enqueue committed: it saw the new edge.
      equal((await getJob(sql, c!.job.id)).state, "available");
    });
    await t.step("the completion locks the parent first; the enqueue waits for it", async () => {
      const p = (await enqueueJob(sql, { kind: "p" })).job.id;
      const leased = await leaseAll(sql);
      const fin = openTx(sql), enq = openTx(sql);
      const { tx: tf } = await fin.opened;
      const { tx: te, pid: pe } = await enq.opened;
      deepStrictEqual([...await completeJobs(tf, [fence(leased.get(p)!)])], [p]);
      const enqueuing = enqueueWithParents(te, [{ kind: "c", dependsOn: [p] }]);
      await waitingForLock(sql, pe);
      await fin.commit();
      const [c] = await enqueuing;
      await enq.commit();
      // The enqueue read the parent as the completion committed it: succeeded.
      equal(c!.job.state, "available");
      equal((await getJob(sql, c!.job.id)).state, "available");
    });
  }, { max: 6 });
});

Deno.test("a batch's last two jobs finishing at once enqueue its callback exactly once", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const { batch, jobs } = await createBatch(sql, {
      jobs: [{ kind: "b1" }, { kind: "b2" }],
      onComplete: { kind: "done", payload: { note: "x" } },
      onSuccess: { kind: "ok" },
      onFailure: { kind: "failed" },
    });
    const leased = await leaseAll(sql);
    const [j1, j2] = jobs.map((r) => leased.get(r.job.id)!);
    const a = openTx(sql), b = openTx(sql);
    const { tx: ta } = await a.opened;
    const { tx: tb, pid: pb } = await b.opened;
    await completeJobs(ta, [fence(j1!)]);
    const second = completeJobs(tb, [fence(j2!)]);
    await waitingForLock(sql, pb);
    await a.commit();
    await second;
    await b.commit();
    const settled = await getBatch(sql, batch.id);
    equal(settled.state, "settled");
    deepStrictEqual(Object.keys(settled.callbackJobs).sort(), ["onComplete", "onSuccess"]);
    const callbacks = await sql<{ kind: string; payload: { batch: Record<string, unknown> } }[]>`
      SELECT kind, payload FROM sluice.jobs WHERE kind IN ('done', 'ok', 'failed') ORDER BY kind`;
    deepStrictEqual(callbacks.map((c) => c.kind), ["done", "ok"]);
    deepStrictEqual(callbacks[0]!.payload.batch, {
      id: batch.id,
      name: null,
      total: 2,
      succeeded: 2,
      dead: 0,
      cancelled: 0,
      callback: "onComplete",
    });
  }, { max: 6 });
});

Deno.test("many concurrent finishers of one batch and one fan-in child: one release, one callback", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const n = 40;
    const { batch, jobs } = await createBatch(sql, {
      jobs: Array.from({ length: n }, (_, i) => ({ kind: "part", payload: { i } })),
      onComplete: { kind: "done" },
      open: true,
    });
    const parents = jobs.map((r) => r.job.id);
    const [fanIn] = await addJobs(sql, batch.id, [{ kind: "join", dependsOn: parents }]);
    await closeBatch(sql, batch.id);
    const leased = await leaseAll(sql);
    // One completion per job, all at once on ten connections, in a shuffled order.
    const order = parents.map((id) => leased.get(id)!).sort(() => Math.random() - 0.5);
    await Promise.all(order.map((j) => completeJobs(sql, [fence(j)])));
    const child = await getJob(sql, fanIn!.job.id);
    equal(child.state, "available");
    equal(child.composition!.parentsPending, 0);
    const joined = await leaseAll(sql);
    assert(joined.has(fanIn!.job.id));
    await completeJobs(sql, [fence(joined.get(fanIn!.job.id)!)]);
    const b = await getBatch(sql, batch.id);
    equal(b.state, "settled");
    equal(b.total, n + 1);
    equal(b.counts.succeeded, n + 1);
    const [cb] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM sluice.jobs WHERE kind = 'done'`;
    equal(cb!.n, 1);
  }, { max: 12 });
});
