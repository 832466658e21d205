import { deepStrictEqual, equal, match, ok as assert } from "node:assert/strict";
import { cancelJob } from "../../src/queue/cancel.ts";
import { enqueueWithParents, parentResults } from "../../src/queue/dependencies.ts";
import { enqueueJob } from "../../src/queue/enqueue.ts";
import { explainJob } from "../../src/queue/explain.ts";
import { getJob, jobTimeline } from "../../src/queue/inspect.ts";
import { replayJob } from "../../src/queue/replay.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { expectCode, runToDeath, runToSuccess, stateOf } from "./_fixtures.ts";

const child = (dependsOn: string[], extra: Record<string, unknown> = {}) => ({
  kind: "child",
  dependsOn,
  ...extra,
});

Deno.test("enqueueWithParents() blocks a child until every parent succeeded, then releases it", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const ids: string[] = [];
    for (const k of ["a", "b", "c"]) ids.push((await enqueueJob(sql, { kind: k })).job.id);
    const [a, b, c] = ids;
    const [res] = await enqueueWithParents(sql, [child([a!, b!, c!])]);
    const id = res!.job.id;
    equal(res!.job.state, "blocked");
    await runToSuccess(sql, a!, { a: 1 });
    const { explain } = await explainJob(sql, id);
    equal(explain.code, "WAITING_FOR_PARENTS");
    match(explain.sentence, new RegExp(`waiting for 2 of 3 parents: ${b}, ${c}`));
    await runToSuccess(sql, b!);
    equal(await stateOf(sql, id), "blocked");
    await runToSuccess(sql, c!, { c: 3 });
    // Released by the transaction that finished the last parent: no promotion pass ran.
    equal(await stateOf(sql, id), "available");
    const job = await getJob(sql, id);
    equal(job.composition?.parentsPending, 0);
    assert(job.composition?.releasedAt);
    const results = (await parentResults(sql, [id])).get(id)!;
    deepStrictEqual(results.map((r) => [r.id, r.result]), [[a, { a: 1 }], [b, null], [c, {
      c: 3,
    }]]);
    const { timeline } = await jobTimeline(sql, id);
    deepStrictEqual(timeline.map((e) => e.event), ["enqueued", "blocked", "released"]);
    deepStrictEqual(timeline[1]!.detail.parents, [a, b, c]);
  });
});

Deno.test("enqueueWithParents() with parents already finished: released, or cancelled at once", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const ok = (await enqueueJob(sql, { kind: "ok" })).job.id;
    await runToSuccess(sql, ok);
    const [r1] = await enqueueWithParents(sql, [child([ok])]);
    equal(r1!.job.state, "available");
    equal(await stateOf(sql, r1!.job.id), "available");
    const bad = (await enqueueJob(sql, { kind: "bad" })).job.id;
    await runToDeath(sql, bad);
    const [r2, r3, r4] = await enqueueWithParents(sql, [
      child([ok, bad]),
      child([ok, bad], { onParentFailure: "run" }),
      child([ok, bad], { onParentFailure: "wait" }),
    ]);
    equal(await stateOf(sql, r2!.job.id), "cancelled");
    equal((await getJob(sql, r2!.job.id)).deadReason, "PARENT_FAILED");
    equal(await stateOf(sql, r3!.job.id), "available");
    equal(await stateOf(sql, r4!.job.id), "blocked");
  });
});

Deno.test("a parent that dies cancels its children recursively (PARENT_FAILED) by default", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const root = (await enqueueJob(sql, { kind: "root" })).job.id;
    const [mid] = await enqueueWithParents(sql, [child([root])]);
    const [leaf] = await enqueueWithParents(sql, [child([mid!.job.id])]);
    const [runs] = await enqueueWithParents(sql, [child([root], { onParentFailure: "run" })]);
    await runToDeath(sql, root);
    equal(await stateOf(sql, mid!.job.id), "cancelled");
    equal(await stateOf(sql, leaf!.job.id), "cancelled");
    equal((await getJob(sql, leaf!.job.id)).deadReason, "PARENT_FAILED");
    equal(await stateOf(sql, runs!.job.id), "available");
    const { timeline } = await jobTimeline(sql, leaf!.job.id);
    deepStrictEqual(timeline.at(-1)!.detail, { reason: "PARENT_FAILED" });
  });
});

Deno.test("onParentFailure 'wait' stays blocked until the replayed parent succeeds", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const p = (await enqueueJob(sql, { kind: "p" })).job.id;
    const [w] = await enqueueWithParents(sql, [child([p], { onParentFailure: "wait" })]);
    const [c] = await enqueueWithParents(sql, [child([p])]);
    await runToDeath(sql, p);
    equal(await stateOf(sql, w!.job.id), "blocked");
    equal(await stateOf(sql, c!.job.id), "cancelled");
    const { explain } = await explainJob(sql, w!.job.id);
    match(explain.sentence, /waiting for 1 of 1 parents: \d+; \d+ is dead: replay it/);
    const replay = await replayJob(sql, p);
    equal(await stateOf(sql, w!.job.id), "blocked");
    // The cancelled child came back, waiting for the replay.
    equal(await stateOf(sql, c!.job.id), "blocked");
    await runToSuccess(sql, replay.id);
    equal(await stateOf(sql, w!.job.id), "available");
    equal(await stateOf(sql, c!.job.id), "available");
  });
});

Deno.test("enqueueWithParents() refuses a missing parent and another producer's job", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const mine = (await enqueueJob(sql, { kind: "m", createdBy: "alice" })).job.id;
    const theirs = (await enqueueJob(sql, { kind: "t", createdBy: "bob" })).job.id;
    await expectCode(enqueueWithParents(sql, [child(["999999"])]), "PARENT_NOT_FOUND");
    await expectCode(
      enqueueWithParents(sql, [child([mine, theirs])], { ownedBy: "alice" }),
      "PARENT_NOT_FOUND",
    );
    await expectCode(enqueueWithParents(sql, [child(["x"])]), "VALIDATION_FAILED");
    await expectCode(
      enqueueWithParents(sql, [child([mine], { onParentFailure: "maybe" })]),
      "VALIDATION_FAILED",
    );
    const [ok] = await enqueueWithParents(sql, [child([mine])], { ownedBy: "alice" });
    equal(ok!.job.state, "blocked");
    const [n] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    equal(n!.n, 3, "nothing was written for the refused enqueues");
  });
});

Deno.test("cancelJob() cancels a blocked job, and its children follow by their policy", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const p = (await enqueueJob(sql, { kind: "p" })).job.id;
    const [b] = await enqueueWithParents(sql, [child([p])]);
    const [g] = await enqueueWithParents(sql, [child([b!.job.id])]);
    equal((await cancelJob(sql, b!.job.id)).state, "cancelled");
    equal(await stateOf(sql, g!.job.id), "cancelled");
    equal((await getJob(sql, g!.job.id)).deadReason, "PARENT_FAILED");
    equal(await stateOf(sql, p), "available");
  });
});

Deno.test("an idempotency key holds while its job is blocked", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const p = (await enqueueJob(sql, { kind: "p" })).job.id;
    const input = { kind: "c", dependsOn: [p], idempotencyKey: "report-7", owner: "alice" };
    const [first] = await enqueueWithParents(sql, [input]);
    equal(first!.job.state, "blocked");
    const [again] = await enqueueWithParents(sql, [input]);
    equal(again!.duplicate, true);
    equal(again!.job.id, first!.job.id);
    // A plain enqueue with the same key meets the blocked holder too.
    const plain = await enqueueJob(sql, { kind: "c", idempotencyKey: "report-7", owner: "alice" });
    equal(plain.duplicate, true);
    equal(plain.job.id, first!.job.id);
    const [{ n }] = await sql<[{ n: number }]>`
      SELECT count(*)::int AS n FROM sluice.jobs WHERE idempotency_key = 'report-7'`;
    equal(n, 1);
  });
});
