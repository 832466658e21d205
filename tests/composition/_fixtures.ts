/** Shared steps of the composition tests: lease and finish jobs as a worker would. */
import { equal, ok as assert, rejects } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import type { Job } from "../../src/queue/job.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJobs, failJob, releaseJobs } from "../../src/queue/outcome.ts";
import type { Sql } from "../_helpers/db.ts";

/** Leases every available job of `queue` and returns them by id. */
export async function leaseAll(sql: Sql, queue = "default", max = 100) {
  const leased = await leaseJobs(sql, { queue, workerId: "w1", max, leaseMs: 60_000 });
  return new Map(leased.map((j) => [j.id, j]));
}

/** Leases `id`, giving back the other jobs the lease took. */
async function leaseOne(sql: Sql, id: string) {
  const leased = await leaseAll(sql);
  const j = leased.get(id);
  assert(j, `job ${id} was not available (leased: ${[...leased.keys()]})`);
  leased.delete(id);
  await releaseJobs(sql, [...leased.values()]);
  return j;
}

/** Leases `id` (it must be available) and completes it with `result`. */
export async function runToSuccess(sql: Sql, id: string, result: unknown = null) {
  const j = await leaseOne(sql, id);
  const done = await completeJobs(sql, [{
    id,
    attempt: j.attempt,
    leaseToken: j.leaseToken,
    result,
  }]);
  assert(done.has(id));
}

/** Leases `id` and fails it permanently: it ends dead. */
export async function runToDeath(sql: Sql, id: string) {
  const j = await leaseOne(sql, id);
  const r = await failJob(sql, { id, attempt: j.attempt, leaseToken: j.leaseToken }, {
    code: "BOOM",
    message: "boom",
    retryable: false,
  }, 0);
  equal(r.state, "dead");
}

export async function stateOf(sql: Sql, id: string): Promise<Job["state"]> {
  return (await getJob(sql, id)).state;
}

export async function expectCode(p: Promise<unknown>, code: string) {
  await rejects(p, (e) => {
    assert(isSluiceError(e), `expected a SluiceError, got ${e}`);
    equal(e.code, code);
    return true;
  });
}
