import { timed } from "../obs/series.ts";
import type { Reservation } from "../queue/admission.ts";
import type { Queue } from "../queue/queues.ts";
import type { ApiContext } from "./deps.ts";

/**
 * Runs an enqueue under admission control (queue size, enqueue rate). `run` passes `admit` to
 * enqueueJobs as its beforeInsert, so admission sees the queues the INSERT is checked against,
 * after validation: an oversized or invalid payload to a full queue answers 413/400, not 429. A
 * policy changed under the cache is admitted again as it is now (the earlier reservation given
 * back first). `wanted` counts the jobs per queue, from those queues.
 */
export async function admitted<T>(
  ctx: ApiContext,
  wanted: (queues: Map<string, Queue>) => Map<string, number>,
  run: (admit: (queues: Map<string, Queue>) => Promise<void>) => Promise<T>,
): Promise<T> {
  const held: { reservation?: Reservation } = {};
  const admit = async (queues: Map<string, Queue>) => {
    const counts = wanted(queues);
    const previous = held.reservation;
    held.reservation = undefined;
    await previous?.release();
    held.reservation = await ctx.admission.admit(queues, counts);
  };
  let result: T;
  try {
    result = await timed(ctx.series, "enqueue", () => run(admit));
  } catch (e) {
    await held.reservation?.release();
    throw e;
  }
  held.reservation?.commit();
  return result;
}
