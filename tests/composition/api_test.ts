import { deepStrictEqual, equal, match, ok as assert } from "node:assert/strict";
import { createTestApi } from "../api/_app.ts";
import { runToDeath, runToSuccess } from "./_fixtures.ts";

Deno.test("POST /v1/jobs with dependsOn: blocked, explained, released; another producer's parent is refused", async (t) => {
  const api = await createTestApi();
  const { sql } = api.db;
  try {
    const a = await api.call("POST", "/v1/jobs", { as: "producer", body: { kind: "a" } });
    const b = await api.call("POST", "/v1/jobs", { as: "producer", body: { kind: "b" } });
    const other = await api.call("POST", "/v1/jobs", { as: "producer2", body: { kind: "o" } });
    await t.step("a child of two parents is blocked and explained", async () => {
      const c = await api.call("POST", "/v1/jobs", {
        as: "producer",
        body: { kind: "c", dependsOn: [a.body.job.id, b.body.job.id] },
      });
      equal(c.status, 201, JSON.stringify(c.body));
      equal(c.body.job.state, "blocked");
      await runToSuccess(sql, a.body.job.id, { rows: 3 });
      const ex = await api.call("GET", `/v1/jobs/${c.body.job.id}/explain`, { as: "producer" });
      equal(ex.body.code, "WAITING_FOR_PARENTS");
      match(ex.body.sentence, new RegExp(`waiting for 1 of 2 parents: ${b.body.job.id}`));
      await runToSuccess(sql, b.body.job.id);
      const got = await api.call("GET", `/v1/jobs/${c.body.job.id}`, { as: "producer" });
      equal(got.body.job.state, "available");
      equal(got.body.job.composition.parentsPending, 0);
      const tl = await api.call("GET", `/v1/jobs/${c.body.job.id}/timeline`, { as: "producer" });
      deepStrictEqual(tl.body.timeline.map((e: { event: string }) => e.event), [
        "enqueued",
        "blocked",
        "released",
      ]);
    });
    await t.step(
      "another producer's parent answers 422 PARENT_NOT_FOUND, as a missing one",
      async () => {
        for (const parent of [other.body.job.id, "987654"]) {
          const r = await api.call("POST", "/v1/jobs", {
            as: "producer",
            body: { kind: "c", dependsOn: [parent] },
          });
          equal(r.status, 422);
          equal(r.body.error.code, "PARENT_NOT_FOUND");
        }
        const bad = await api.call("POST", "/v1/jobs", {
          as: "producer",
          body: { kind: "c", dependsOn: [a.body.job.id], onParentFailure: "later" },
        });
        equal(bad.status, 400);
      },
    );
    await t.step("dependsOn through /v1/jobs/batch", async () => {
      const r = await api.call("POST", "/v1/jobs/batch", {
        as: "producer",
        body: { jobs: [{ kind: "x" }, { kind: "y", dependsOn: [b.body.job.id] }] },
      });
      equal(r.status, 201, JSON.stringify(r.body));
      deepStrictEqual(r.body.results.map((x: { job: { state: string } }) => x.job.state), [
        "available",
        "available",
      ]);
    });
  } finally {
    await api.close();
  }
});

Deno.test("POST /v1/workflows creates the DAG atomically; a dead node's replay resumes it", async (t) => {
  const api = await createTestApi();
  const { sql } = api.db;
  try {
    await t.step("cycles and unknown keys are refused, nothing written", async () => {
      const cycle = await api.call("POST", "/v1/workflows", {
        as: "producer",
        body: {
          name: "bad",
          jobs: [
            { key: "a", kind: "k", dependsOn: ["b"] },
            { key: "b", kind: "k", dependsOn: ["a"] },
          ],
        },
      });
      equal(cycle.status, 400);
      equal(cycle.body.error.code, "WORKFLOW_INVALID");
      deepStrictEqual(cycle.body.error.details.cycle, ["a", "b"]);
      const unknown = await api.call("POST", "/v1/workflows", {
        as: "producer",
        body: { name: "bad", jobs: [{ key: "a", kind: "k", dependsOn: ["zz"] }] },
      });
      equal(unknown.body.error.code, "WORKFLOW_INVALID");
      const [{ n }] = await sql<[{ n: number }]>`
        SELECT (SELECT count(*) FROM sluice.jobs) + (SELECT count(*) FROM sluice.workflows) AS n`;
      equal(Number(n), 0);
    });
    const wf = await api.call("POST", "/v1/workflows", {
      as: "producer",
      body: {
        name: "ingest",
        jobs: [
          { key: "parse", kind: "parse", dependsOn: ["fetch"] },
          { key: "fetch", kind: "fetch", payload: { url: "x" } },
          { key: "store", kind: "store", dependsOn: ["parse", "fetch"] },
        ],
      },
    });
    equal(wf.status, 201, JSON.stringify(wf.body));
    type Node = {
      key: string;
      jobId: string;
      state: string;
      dependsOn: string[];
      previousJobIds: string[];
    };
    const node = (w: { nodes: Node[] }, k: string) => w.nodes.find((n) => n.key === k)!;
    await t.step("every node has its job id and state", () => {
      const w = wf.body.workflow;
      equal(w.state, "running");
      equal(node(w, "fetch").state, "available");
      equal(node(w, "parse").state, "blocked");
      deepStrictEqual(node(w, "store").dependsOn.sort(), ["fetch", "parse"]);
    });
    const id = wf.body.workflow.id;
    const get = async () =>
      (await api.call("GET", `/v1/workflows/${id}`, { as: "producer" })).body.workflow;
    await t.step("a dead node cancels its descendants; the workflow fails", async () => {
      await runToSuccess(sql, node(wf.body.workflow, "fetch").jobId, { body: "<html>" });
      await runToDeath(sql, node(wf.body.workflow, "parse").jobId);
      const w = await get();
      equal(w.state, "failed");
      equal(node(w, "store").state, "cancelled");
      const other = await api.call("GET", `/v1/workflows/${id}`, { as: "producer2" });
      equal(other.status, 404);
    });
    await t.step("replaying the dead node resumes the workflow to success", async () => {
      const dead = node(wf.body.workflow, "parse").jobId;
      const replay = await api.call("POST", `/v1/jobs/${dead}/replay`, { as: "producer" });
      equal(replay.status, 201);
      let w = await get();
      equal(w.state, "running");
      equal(node(w, "parse").jobId, replay.body.job.id);
      deepStrictEqual(node(w, "parse").previousJobIds, [dead]);
      equal(node(w, "store").state, "blocked");
      await runToSuccess(sql, replay.body.job.id, { parsed: true });
      const store = node(await get(), "store").jobId;
      // The handler's view of its parents: results by node key.
      const { parentResults } = await import("../../src/queue/dependencies.ts");
      const parents = (await parentResults(sql, [store])).get(store)!;
      deepStrictEqual(parents.map((p) => [p.key, p.result]).sort(), [
        ["fetch", { body: "<html>" }],
        ["parse", { parsed: true }],
      ]);
      await runToSuccess(sql, store);
      w = await get();
      equal(w.state, "succeeded");
      const list = await api.call("GET", "/v1/workflows?state=succeeded", { as: "read" });
      deepStrictEqual(list.body.workflows.map((x: { id: string }) => x.id), [id]);
    });
    await t.step("cancel cancels what has not finished", async () => {
      const w2 = await api.call("POST", "/v1/workflows", {
        as: "producer",
        body: {
          name: "two",
          jobs: [{ key: "a", kind: "a" }, { key: "b", kind: "b", dependsOn: ["a"] }],
        },
      });
      const c = await api.call("POST", `/v1/workflows/${w2.body.workflow.id}/cancel`, {
        as: "producer",
      });
      equal(c.status, 200);
      equal(c.body.workflow.state, "cancelled");
      deepStrictEqual(c.body.workflow.nodes.map((n: { state: string }) => n.state), [
        "cancelled",
        "cancelled",
      ]);
      const [{ n }] = await sql<[{ n: number }]>`
        SELECT count(*)::int AS n FROM sluice.jobs WHERE dead_reason = 'PARENT_FAILED'
          AND workflow_id = ${w2.body.workflow.id}`;
      equal(n, 0, "cancelled by the operator, not as PARENT_FAILED");
    });
  } finally {
    await api.close();
  }
});

Deno.test("POST /v1/batches: progress, open batches, callbacks with the summary", async (t) => {
  const api = await createTestApi();
  const { sql } = api.db;
  try {
    const created = await api.call("POST", "/v1/batches", {
      as: "producer",
      body: {
        name: "import",
        jobs: [{ kind: "row" }, { kind: "row" }],
        open: true,
        onFailure: { kind: "alert", payload: { to: "ops" } },
        onComplete: { kind: "report" },
      },
    });
    equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.batch.id;
    equal(created.body.batch.state, "open");
    equal(created.body.batch.total, 2);
    const [j1, j2] = created.body.results.map((r: { job: { id: string } }) => r.job.id);
    await t.step("jobs are added while open; progress shows per state and percent", async () => {
      const add = await api.call("POST", `/v1/batches/${id}/jobs`, {
        as: "producer",
        body: { jobs: [{ kind: "row" }] },
      });
      equal(add.status, 201, JSON.stringify(add.body));
      equal(add.body.batch.total, 3);
      await runToSuccess(sql, j1);
      const b = (await api.call("GET", `/v1/batches/${id}`, { as: "producer" })).body.batch;
      equal(b.percent, 33);
      deepStrictEqual(b.counts, { available: 2, succeeded: 1 });
      const other = await api.call("GET", `/v1/batches/${id}`, { as: "producer2" });
      equal(other.status, 404);
    });
    await t.step(
      "closed: no more jobs; settles once all finished, callbacks get the summary",
      async () => {
        const closed = await api.call("POST", `/v1/batches/${id}/close`, { as: "producer" });
        equal(closed.body.batch.state, "running");
        const late = await api.call("POST", `/v1/batches/${id}/jobs`, {
          as: "producer",
          body: { jobs: [{ kind: "row" }] },
        });
        equal(late.status, 409);
        equal(late.body.error.code, "BATCH_CLOSED");
        await runToDeath(sql, j2);
        const [third] = await sql<{ id: string }[]>`
        SELECT id::text FROM sluice.jobs WHERE batch_id = ${id} AND state = 'available'`;
        await runToSuccess(sql, third!.id);
        const b = (await api.call("GET", `/v1/batches/${id}`, { as: "producer" })).body.batch;
        equal(b.state, "settled");
        equal(b.percent, 100);
        deepStrictEqual(Object.keys(b.callbackJobs).sort(), ["onComplete", "onFailure"]);
        const alert = await api.call("GET", `/v1/jobs/${b.callbackJobs.onFailure}`, {
          as: "producer",
        });
        deepStrictEqual(alert.body.job.payload, {
          to: "ops",
          batch: {
            id,
            name: "import",
            total: 3,
            succeeded: 2,
            dead: 1,
            cancelled: 0,
            callback: "onFailure",
          },
        });
        equal(alert.body.job.createdBy, "t-producer");
        const list = await api.call("GET", "/v1/batches", { as: "read" });
        assert(list.body.batches.some((x: { id: string }) => x.id === id));
      },
    );
    await t.step("an empty closed batch settles at once; a bad callback is refused", async () => {
      const empty = await api.call("POST", "/v1/batches", {
        as: "producer",
        body: { onSuccess: { kind: "ok" } },
      });
      equal(empty.body.batch.state, "settled");
      assert(empty.body.batch.callbackJobs.onSuccess);
      const bad = await api.call("POST", "/v1/batches", {
        as: "producer",
        body: { jobs: [{ kind: "x" }], onSuccess: { kind: "ok", queue: "nope" } },
      });
      equal(bad.status, 404);
    });
  } finally {
    await api.close();
  }
});

Deno.test("POST /v1/queues/:name/lease hands a child its parents' results", async () => {
  const api = await createTestApi();
  try {
    const q = await api.call("POST", "/v1/queues", {
      body: { name: "pulled", delivery: { mode: "pull" } },
    });
    equal(q.status, 201, JSON.stringify(q.body));
    await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { queue: "pulled", kind: "p" },
    });
    const lease = (max = 5) =>
      api.call("POST", "/v1/queues/pulled/lease", {
        as: "worker",
        body: { workerId: "puller", max },
      });
    const first = await lease();
    equal(first.status, 200, JSON.stringify(first.body));
    const job = first.body.jobs[0];
    equal(job.parents, undefined, "a job without parents carries no parents field");
    const c = await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { queue: "pulled", kind: "c", dependsOn: [job.id] },
    });
    const done = await api.call("POST", `/v1/jobs/${job.id}/complete`, {
      as: "worker",
      body: { attempt: job.attempt, leaseToken: job.leaseToken, result: { answer: 42 } },
    });
    equal(done.status, 200, JSON.stringify(done.body));
    const second = await lease();
    equal(second.body.jobs[0].id, c.body.job.id);
    deepStrictEqual(second.body.jobs[0].parents, [
      { id: job.id, key: null, state: "succeeded", result: { answer: 42 } },
    ]);
  } finally {
    await api.close();
  }
});
