/**
 * Sluice as a library: enqueue inside your own transactions and run inline handlers.
 *
 * ```ts
 * import postgres from "postgres";
 * import { enqueueJob, Worker, handlerMap } from "./src/mod.ts";
 * const sql = postgres(Deno.env.get("DATABASE_URL")!);
 * await sql.begin((tx) => enqueueJob(tx, { queue: "emails", kind: "email.send", payload: { to } }));
 * const worker = new Worker({ sql, workerId: "app-1", queues: ["emails"], concurrency: 10,
 *   leaseMs: 30_000, pollMs: 1_000, shutdownGraceMs: 30_000,
 *   handlers: handlerMap({ "email.send": async (payload, { signal }) => { … } }) });
 * await worker.start();
 * ```
 */
export { SluiceError } from "./errors.ts";
export type { ErrorCode } from "./errors.ts";
export { enqueueJob, enqueueJobs } from "./queue/enqueue.ts";
export { Engine } from "./queue/engine.ts";
export type { Db } from "./db/connect.ts";
export type { EnqueueInput, EnqueueResult } from "./queue/enqueue.ts";
export { getJob, jobTimeline, listJobs } from "./queue/inspect.ts";
export { explainJob } from "./queue/explain.ts";
export { listSubscriptions, publish, subscribe, unsubscribe } from "./queue/topics.ts";
export type { Subscription } from "./queue/topics.ts";
export type { DebounceInput, ThrottleInput } from "./queue/flow_input.ts";
export { cancelJob } from "./queue/cancel.ts";
export { replayJob, retryJob } from "./queue/replay.ts";
export { enqueueWithParents, parentResults } from "./queue/dependencies.ts";
export type { DependentInput, ParentFailurePolicy, ParentResult } from "./queue/dependencies.ts";
export { cancelWorkflow, createWorkflow, getWorkflow, listWorkflows } from "./queue/workflows.ts";
export type { Workflow, WorkflowInput, WorkflowNodeInput } from "./queue/workflows.ts";
export { addJobs, closeBatch, createBatch, getBatch, listBatches } from "./queue/batches.ts";
export type { Batch, BatchInput } from "./queue/batches.ts";
export {
  createQueue,
  getQueue,
  listQueues,
  setQueuePaused,
  updateQueuePolicy,
} from "./queue/queues.ts";
export type { Job, JobState, LeasedJob } from "./queue/job.ts";
export { Worker } from "./worker/worker.ts";
export type { WorkerOptions } from "./worker/worker.ts";
export { handlerMap } from "./worker/handlers.ts";
export type { Handler, HandlerContext } from "./worker/handlers.ts";
export { JobFailure, permanentFailure, retryAfter } from "./worker/failure.ts";
export { migrate } from "./db/migrate.ts";
