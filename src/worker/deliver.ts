import type { LeasedJob } from "../queue/job.ts";
import type { Queue } from "../queue/queues.ts";
import { runExec } from "./exec.ts";
import { JobFailure } from "./failure.ts";
import type { HandlerContext, HandlerMap } from "./handlers.ts";

export type DeliveryResult =
  | { status: "succeeded"; result: unknown }
  /** The handler accepted the job and will report through a signed callback. */
  | { status: "awaiting_callback" }
  /** Not attempted (e.g. an open circuit): back to waiting without consuming the attempt. */
  | { status: "deferred"; delayMs: number; reason: string };

/** Runs one leased attempt in the queue's delivery mode; a failure is thrown as JobFailure. */
export type Deliver = (
  job: LeasedJob,
  queue: Queue,
  ctx: HandlerContext,
) => Promise<DeliveryResult>;

export function inlineDelivery(handlers: HandlerMap): Deliver {
  return async (job, _queue, ctx) => {
    const handler = handlers.get(job.kind);
    if (!handler) {
      throw new JobFailure(
        "NO_HANDLER",
        `no handler for kind '${job.kind}' on this worker; register one or route the queue to exec/http delivery`,
      );
    }
    return { status: "succeeded", result: (await handler(job.payload, ctx)) ?? null };
  };
}

export const execDelivery: Deliver = async (job, queue, ctx) => {
  const d = queue.effective.delivery;
  if (d.mode !== "exec") {
    throw new JobFailure("DELIVERY_MISMATCH", `queue '${queue.name}' is not an exec queue`);
  }
  return { status: "succeeded", result: await runExec(d.command, job, ctx.signal) };
};
