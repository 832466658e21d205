/**
 * One fuzz run: a test API on a fresh database with a fixture built through the API itself,
 * then `requestsPerOperation` generated requests for every operation of `/v1/openapi.json`,
 * sent one after the other. Collects every contract break (distinct by route, status and
 * reason) instead of stopping at the first, so one run shows the whole picture.
 */
import { ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { Signer } from "../../src/delivery/signature.ts";
import { type TestApi, withTestApi } from "./_app.ts";
import {
  check,
  type Fixture,
  type FuzzFailure,
  operations,
  requestArbitrary,
  SchemaArbitraries,
} from "./_openapi_fuzz.ts";

const SECRET = "whsec_" + btoa("fuzz-signing-secret-0123456789ab");

async function fixture(api: TestApi): Promise<Fixture> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await api.call(method, path, { body });
    assert(r.status < 300, `fixture ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  await ok("POST", "/v1/queues", { name: "fz-inline" });
  await ok("POST", "/v1/queues", { name: "fz-pull", delivery: { mode: "pull" } });
  await ok("POST", "/v1/queues", {
    name: "fz-http",
    delivery: { mode: "http", url: "https://203.0.113.10/hook" },
  });
  const jobIds: string[] = [];
  for (const queue of ["fz-inline", "fz-pull", "fz-pull", "fz-pull", "fz-http"]) {
    const b = await ok("POST", "/v1/jobs", {
      queue,
      kind: "fz.kind",
      payload: { n: jobIds.length },
      idempotencyKey: `fz-${jobIds.length}`,
    });
    jobIds.push(String(b.job.id));
  }
  const leased = await ok("POST", "/v1/queues/fz-pull/lease", { max: 2, leaseSeconds: 600 });
  const fences = (leased.jobs as { id: string; attempt: number; leaseToken: string }[])
    .map(({ id, attempt, leaseToken }) => ({ id: String(id), attempt, leaseToken }));
  await ok("POST", "/v1/schedules", {
    name: "fz-nightly",
    cron: "0 3 * * *",
    queue: "fz-inline",
    kind: "fz.kind",
  });
  return {
    queues: ["fz-inline", "fz-pull", "fz-http", "default", "no-such-queue"],
    jobIds: [...jobIds, "999999"],
    schedules: ["fz-nightly"],
    fences,
  };
}

export interface FuzzOptions {
  seed: number;
  requestsPerOperation: number;
  timeoutMs?: number;
}

export async function fuzzOpenApi(
  opts: FuzzOptions,
): Promise<{ requests: number; operations: number; failures: FuzzFailure[] }> {
  return await withTestApi(async (api) => {
    const doc = (await api.call("GET", "/v1/openapi.json", { as: null })).body;
    const ops = operations(doc);
    assert(ops.length >= 30, `only ${ops.length} operations in /v1/openapi.json`);
    const arbs = new SchemaArbitraries(doc, await fixture(api));
    const signer = new Signer([SECRET]);
    const failures = new Map<string, FuzzFailure & { count: number }>();
    let requests = 0;
    for (const [i, op] of ops.entries()) {
      const samples = fc.sample(requestArbitrary(arbs, op, signer), {
        seed: opts.seed + i,
        numRuns: opts.requestsPerOperation,
      });
      for (const req of samples) {
        requests++;
        const f = await check(api, req, opts.timeoutMs ?? 10_000);
        if (!f) continue;
        const key = `${op.method} ${op.path} ${f.status} ${f.why}`;
        const seen = failures.get(key);
        if (seen) seen.count++;
        else failures.set(key, { ...f, count: 1 });
      }
    }
    return { requests, operations: ops.length, failures: [...failures.values()] };
  }, {
    SLUICE_SIGNING_SECRETS: SECRET,
    // The fuzzer is one client sending thousands of requests a minute: not what the per-token
    // limiter is being tested for here.
    SLUICE_API_RATE_LIMIT: "1000000",
  });
}

export function describeFailures(failures: FuzzFailure[]): string {
  return failures.map((f) =>
    `- ${f.why} (${f.status})\n    request: ${f.request}\n    answer:  ${f.answer}`
  ).join("\n");
}
