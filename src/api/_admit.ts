/**
 * Admission around an insert of jobs: the batch-size limit, 404 for unknown queues (from the
 * policy cache), then the queue-state checks (size, enqueue rate) run by enqueueJobs' own
 * `beforeInsert`, after validation, so an invalid request answers 400/413 before 429. Shared by
 * every route that inserts jobs (jobs, workflows, batches).
 */
import { SluiceError } from "../errors.ts";
import type { Reservation } from "../queue/admission.ts";
import type { EnqueueInput, EnqueueOptions } from "../queue/enqueue.ts";
import { assertQueueName } from "../queue/names.ts";
import { type Queue, queueNotFound } from "../queue/queues.ts";
import type { ApiContext } from "./deps.ts";

export async function admitted<T>(
  ctx: ApiContext,
  inputs: readonly EnqueueInput[],
  insert: (opts: EnqueueOptions) => Promise<T>,
): Promise<T> {
  const max = ctx.config.maxBatchSize;
  if (inputs.length > max) {
    throw new SluiceError(
      "BATCH_TOO_LARGE",
      `batch of ${inputs.length} jobs is larger than the maximum of ${max}`,
      { size: inputs.length, max },
    );
  }
  const wanted = new Map<string, number>();
  for (const i of inputs) {
    const name = assertQueueName(i.queue ?? "default");
    wanted.set(name, (wanted.get(name) ?? 0) + 1);
  }
  // A missing queue answers 404 before any payload check, as it always did (a cache hit).
  const known = await ctx.engine.policies.get([...wanted.keys()]);
  for (const name of wanted.keys()) if (!known.has(name)) throw queueNotFound(name);
  // Admission runs on the queues the INSERT is checked against, so a policy changed under the
  // cache is admitted again as it is now (the earlier reservation given back first).
  const held: { reservation?: Reservation } = {};
  const admit = async (queues: Map<string, Queue>) => {
    for (const name of wanted.keys()) if (!queues.has(name)) throw queueNotFound(name);
    const previous = held.reservation;
    held.reservation = undefined;
    await previous?.release();
    held.reservation = await ctx.admission.admit(queues, wanted);
  };
  let result: T;
  try {
    result = await insert({ policies: ctx.engine.policies, maxBatch: max, beforeInsert: admit });
  } catch (e) {
    await held.reservation?.release();
    throw e;
  }
  held.reservation?.commit();
  return result;
}
