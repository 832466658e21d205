/**
 * The long fuzz run: the same contract as tests/api/fuzz_test.ts with more requests and a seed
 * per run. `deno task test:faults` sets SLUICE_FUZZ_REQUESTS (per operation) and may set
 * SLUICE_FUZZ_SEED; a failure prints the seed, so `SLUICE_FUZZ_SEED=<seed> deno task
 * test:faults` reproduces it. Without SLUICE_FUZZ_REQUESTS (the plain `deno task test`) it is
 * skipped: the short run there covers every route already.
 */
import { ok as assert } from "node:assert/strict";
import { describeFailures, fuzzOpenApi } from "../api/_fuzz_run.ts";

const perOperation = Number(Deno.env.get("SLUICE_FUZZ_REQUESTS") ?? 0);
const seed = Number(Deno.env.get("SLUICE_FUZZ_SEED") || Date.now() % 2 ** 31);

Deno.test({
  name: `fuzz: ${perOperation || "no"} generated requests per route (SLUICE_FUZZ_REQUESTS)`,
  ignore: !(perOperation > 0),
  fn: async () => {
    const { requests, failures } = await fuzzOpenApi({ seed, requestsPerOperation: perOperation });
    assert(
      failures.length === 0,
      `seed ${seed}: ${failures.length} kinds of contract break in ${requests} requests:\n` +
        describeFailures(failures),
    );
  },
});
