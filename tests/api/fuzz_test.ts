/**
 * Every route of `/v1/openapi.json` under generated input (fixed seed, so a failure reproduces):
 * no 5xx, no hang, every error in the documented shape. A longer run with other seeds is
 * `tests/faults/fuzz_long_test.ts` (`deno task test:faults`).
 */
import { ok as assert } from "node:assert/strict";
import { describeFailures, fuzzOpenApi } from "./_fuzz_run.ts";

Deno.test("the API answers generated input from its own schema without a 5xx", async () => {
  const { requests, operations, failures } = await fuzzOpenApi({
    seed: 20261203,
    requestsPerOperation: 100,
  });
  assert(requests >= 3_000, `only ${requests} requests over ${operations} operations`);
  assert(
    failures.length === 0,
    `${failures.length} kinds of contract break in ${requests} requests:\n` +
      describeFailures(failures),
  );
});
