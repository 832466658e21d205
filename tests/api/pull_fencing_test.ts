/**
 * The pull API's fence (issues #14, #21): lease tokens are secrets, reports apply only to leases
 * the pull API handed out and only while they last, heartbeats never shorten a lease.
 */
import { equal, ok as assert } from "node:assert/strict";
import { enqueueJob } from "../../src/queue/enqueue.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJobs } from "../../src/queue/outcome.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { waitFor } from "../_helpers/wait.ts";
import { type TestApi, withTestApi } from "./_app.ts";

interface Leased {
  id: string;
  attempt: number;
  leaseToken: string;
  fencingToken: string;
  leaseExpiresAt: string;
}

async function pullLease(api: TestApi, body: Record<string, unknown>): Promise<Leased> {
  const res = await api.call("POST", "/v1/queues/ext/lease", { as: "worker", body });
  equal(res.status, 200, JSON.stringify(res.body));
  return res.body.jobs[0];
}

const report = (api: TestApi, id: string, verb: string, body: Record<string, unknown>) =>
  api.call("POST", `/v1/jobs/${id}/${verb}`, { as: "worker", body });

const failBody = { error: { message: "no" }, retryable: true };

/** Heartbeat, complete and fail with this fence all answer 409 STALE_LEASE. */
async function refusedByEveryReport(
  api: TestApi,
  id: string,
  { attempt, leaseToken }: { attempt: number; leaseToken: string },
) {
  for (const [verb, extra] of [["heartbeat", {}], ["complete", {}], ["fail", failBody]] as const) {
    const r = await report(api, id, verb, { attempt, leaseToken, ...extra });
    equal(r.status, 409, `${verb}: ${JSON.stringify(r.body)}`);
    equal(r.body.error.code, "STALE_LEASE");
  }
}

async function stateOf(api: TestApi, id: string): Promise<string> {
  const [row] = await api.db.sql<{ state: string }[]>`
    SELECT state FROM sluice.jobs WHERE id = ${id}`;
  return row!.state;
}

Deno.test("pull API: the lease token is a secret apart from the fencing number", async () => {
  await withTestApi(async (api) => {
    await createQueue(api.db.sql, "ext", { delivery: { mode: "pull" } });
    await enqueueJob(api.db.sql, { queue: "ext", kind: "a" });
    await enqueueJob(api.db.sql, { queue: "ext", kind: "b" });
    const res = await api.call("POST", "/v1/queues/ext/lease", {
      as: "worker",
      body: { max: 2 },
    });
    const [a, b] = res.body.jobs as Leased[];
    for (const j of [a!, b!]) {
      assert(/^[A-Za-z0-9_-]{43}$/.test(j.leaseToken), j.leaseToken);
      assert(/^[1-9][0-9]*$/.test(j.fencingToken), j.fencingToken);
    }
    // One fencing number per lease statement, one secret per job.
    equal(a!.fencingToken, b!.fencingToken);
    assert(a!.leaseToken !== b!.leaseToken);
    // The fencing number is no credential, and neither is another job's token.
    const byNumber = await report(api, a!.id, "complete", {
      attempt: 1,
      leaseToken: a!.fencingToken,
    });
    equal(byNumber.status, 400, JSON.stringify(byNumber.body));
    const byOther = await report(api, a!.id, "complete", { attempt: 1, leaseToken: b!.leaseToken });
    equal(byOther.status, 409, JSON.stringify(byOther.body));
    equal(byOther.body.error.code, "STALE_LEASE");
    equal(await stateOf(api, a!.id), "running");
  });
});

Deno.test("pull API reports only on leases it handed out, never on a built-in worker's", async () => {
  await withTestApi(async (api) => {
    // An inline job run by a built-in worker: even with its real token and attempt, a
    // worker-scope API token can neither finish it nor keep it alive.
    const { job } = await enqueueJob(api.db.sql, { queue: "default", kind: "k" });
    const [leased] = await leaseJobs(api.db.sql, {
      queue: "default",
      workerId: "builtin",
      max: 1,
      leaseMs: 30_000,
    });
    equal(leased!.id, job.id);
    await refusedByEveryReport(api, job.id, leased!);
    equal(await stateOf(api, job.id), "running");
    // The worker itself still completes it.
    equal((await completeJobs(api.db.sql, [leased!])).size, 1);
  });
});

Deno.test("an expired lease is refused before the reaper ran: pull reports and worker writes", async () => {
  await withTestApi(async (api) => {
    const { sql } = api.db;
    await createQueue(sql, "ext", { delivery: { mode: "pull" } });
    const { job } = await enqueueJob(sql, { queue: "ext", kind: "a" });
    const { job: inline } = await enqueueJob(sql, { queue: "default", kind: "k" });
    const j = await pullLease(api, { leaseSeconds: 1 });
    const [w] = await leaseJobs(sql, { queue: "default", workerId: "w", max: 1, leaseMs: 1_000 });
    await waitFor(async () => {
      const [row] = await sql<{ expired: boolean }[]>`
        SELECT bool_and(lease_expires_at < now()) AS expired FROM sluice.jobs
        WHERE id IN (${job.id}, ${inline.id})`;
      return row!.expired;
    }, { what: "both leases to expire by PostgreSQL's clock" });
    await refusedByEveryReport(api, j.id, j);
    equal((await completeJobs(sql, [w!])).size, 0, "the worker's late completion is refused");
    equal(await stateOf(api, job.id), "running", "left for the reaper");
    equal(await stateOf(api, inline.id), "running");
  });
});

Deno.test("a pull heartbeat never shortens a lease; without leaseSeconds it renews the granted length", async () => {
  await withTestApi(async (api) => {
    const { sql } = api.db;
    await createQueue(sql, "ext", { delivery: { mode: "pull" } });
    const { job } = await enqueueJob(sql, { queue: "ext", kind: "a" });
    const j = await pullLease(api, { leaseSeconds: 600 });
    const left = async () => {
      const [row] = await sql<{ s: number }[]>`
        SELECT extract(epoch FROM lease_expires_at - now())::float8 AS s
        FROM sluice.jobs WHERE id = ${job.id}`;
      return row!.s;
    };
    const fence = { attempt: j.attempt, leaseToken: j.leaseToken };
    equal((await report(api, j.id, "heartbeat", fence)).status, 200);
    assert(await left() > 590, `without leaseSeconds: ${await left()} s left`);
    equal((await report(api, j.id, "heartbeat", { ...fence, leaseSeconds: 5 })).status, 200);
    assert(await left() > 590, `a shorter leaseSeconds: ${await left()} s left`);
    await sql`UPDATE sluice.jobs SET lease_expires_at = now() + interval '10 seconds'
      WHERE id = ${job.id}`;
    equal((await report(api, j.id, "heartbeat", fence)).status, 200);
    assert(await left() > 590, `renewed by the granted 600 s: ${await left()} s left`);
  });
});
