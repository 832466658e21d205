/**
 * The engine: every verb of src/queue, with its one-line contract. Find any behaviour in one
 * hop: route → router file → verb → SQL (each verb holds its own statements, in its file).
 *
 * Handles. Every verb takes a `Db` (src/db/connect.ts): a pool or a caller's transaction, so
 * `sql.begin(tx => enqueueJob(tx, …))` joins the caller's transaction. A verb that needs several
 * statements to hold together runs them through `atomically`: its own transaction on a pool, a
 * savepoint inside the caller's (see the why-comment there).
 *
 * State. Nothing is kept in a module. Each process role makes one `Engine` (engine.ts) for its
 * pool and passes it down: `policies` (policies.ts: queue policies behind one freshness rule,
 * re-checked by the enqueue INSERT) and `leaseTokens` (lease.ts: this pool's fencing-token
 * epoch). Verbs that can use them take them as options; without, they read afresh (one round
 * trip more, never a different answer).
 *
 * Routes (under /v1) → router → verb (file):
 * - POST /jobs, /jobs/batch → api/jobs.ts → enqueueJobs (enqueue.ts) with Admission.admit
 * - GET /jobs, /jobs/{id}, /jobs/{id}/timeline → api/jobs.ts → listJobs, getJob, jobTimeline
 *   (inspect.ts)
 * - GET /jobs/{id}/explain → api/jobs.ts → explainJob (explain.ts)
 * - POST /jobs/{id}/retry, /replay → api/jobs.ts → retryJob, replayJob (replay.ts)
 * - POST /jobs/{id}/cancel → api/jobs.ts → cancelJob (cancel.ts)
 * - POST /queues/{queue}/lease → api/pull.ts → leaseJobs (lease.ts)
 * - POST /jobs/{id}/heartbeat, /complete, /fail → api/pull.ts → heartbeatJobs, completeJob,
 *   failJob (outcome.ts)
 * - GET, POST /queues; GET, PATCH /queues/{name} → api/queues.ts → listQueues, getQueue,
 *   createQueue, updateQueuePolicy (queues.ts)
 * - POST /queues/{name}/pause, /resume → api/queues.ts → setQueuePaused (queues.ts)
 * - POST /queues/{name}/drain → api/queues.ts → drainQueue (drain.ts)
 * - GET /dlq, POST /dlq/replay → api/dlq.ts → listDeadJobs, replayDeadLetters (dlq.ts)
 * - /schedules… → api/schedules.ts → createSchedule … deleteSchedule (schedules.ts)
 * - POST /callbacks → api/callbacks.ts → delivery/callback_handler.ts → applyCallback
 *   (callbacks.ts)
 * - GET /workers → api/workers.ts → listWorkers (workers.ts)
 * - GET /stats/throughput → api/stats.ts → jobThroughput (throughput.ts)
 * - /ingest/decisions → api/decisions.ts → listDecisions, recordDecision (decisions.ts)
 * - POST /jobs with dependsOn → api/jobs.ts → enqueueWithParents (dependencies.ts); the release
 *   is the trigger jobs_finished (migrations/0014_composition_dependencies.sql)
 * - /workflows… → api/workflows.ts → createWorkflow … cancelWorkflow (workflows.ts)
 * - /batches… → api/batches.ts → createBatch, addJobs, closeBatch, getBatch, listBatches
 *   (batches.ts)
 *
 * Verbs by file, with their contracts:
 * - enqueue.ts   enqueueJobs: validate every input, then one INSERT for the batch, all or nothing;
 *                an unfinished job with the same (queue, owner, idempotency key) is returned as a
 *                duplicate instead. enqueueJob: the same for one.
 * - admission.ts Admission.admit: refuse QUEUE_FULL / ENQUEUE_RATE_EXCEEDED before the insert,
 *                reserving rate budget that `release` gives back.
 * - queues.ts    createQueue / updateQueuePolicy / setQueuePaused / setQueueRefusingNew: one
 *                UPDATE or INSERT each, returning the queue as stored; getQueue(s), listQueues
 *                read.
 * - policies.ts  QueuePolicies.get / fresh: queues from the per-pool cache (at most 1 s old)
 *                or the table.
 * - lease.ts     leaseJobs: up to `max` available jobs of one queue in delivery order, each with a
 *                fresh fencing token and lease secret; a paused queue leases nothing.
 * - outcome.ts   completeJobs / completeJob / failJob / heartbeatJobs / releaseJobs /
 *                finishCancelled: writes fenced on (id, attempt, lease secret), unexpired lease;
 *                a fenced-out write changes nothing (STALE_LEASE or an absent id).
 * - defer.ts     deferJob: put a leased job back unattempted (its destination's circuit is open).
 * - callbacks.ts awaitCallback: an attempt now waits for its callback; applyCallback: record
 *                the event id, then the fenced outcome, atomically (a replay changes nothing).
 * - cancel.ts    cancelJob: a waiting job ends cancelled now, a running one at its next heartbeat.
 * - replay.ts    replayJob / retryJob: a new job linked by retry_of; the original is not touched.
 * - dlq.ts       listDeadJobs / listDeadLetterGroups read; replayDeadLetters replays dead jobs
 *                not replayed yet, atomically, at most `limit` per call.
 * - drain.ts     drainQueue: pause (or refuse new) and report how far the queue is from idle.
 * - inspect.ts   getJob / listJobs (keyset) / jobTimeline (every transition, from the row).
 * - explain.ts   explainJob: why a job is where it is, one sentence and the facts behind it.
 * - schedules.ts createSchedule … deleteSchedule; fireDueSchedules fires each due slot once
 *                (savepoint per schedule); failingSchedules, schedulerHealth read.
 * - promote.ts   promoteDueJobs: scheduled and retrying jobs whose time has come become available.
 * - rescue.ts    reapExpiredLeases: expired leases go back to available, or dead when exhausted.
 * - workers.ts   registerWorker / touchWorker / stopWorker / listWorkers / pullWorkerSightings.
 * - throughput.ts jobThroughput; waiting.ts oldestWaitingSeconds; decisions.ts record/list.
 * - key_limits.ts the keyed lease's pick (keyConcurrency, round robin over keys), KEY_AT_LIMIT.
 * - throttle.ts / debounce.ts  the enqueue's throttle windows and debounced upsert; flow_input.ts
 *                validates their fields (docs/flow-control.md).
 * - topics.ts    subscribe / unsubscribe / listSubscriptions / publish (one job per queue).
 *
 * No verb runs itself: the intervals of fireDueSchedules, promoteDueJobs and reapExpiredLeases
 * are their maintenance services' (src/maintenance/scheduler.ts, promoter.ts, reaper.ts), and
 * workers promote on their poll tick (src/worker/loop.ts).
 */
export { Engine } from "./engine.ts";
export { QueuePolicies } from "./policies.ts";
export { Admission } from "./admission.ts";
export { enqueueJob, enqueueJobs } from "./enqueue.ts";
export { leaseJobs, LeaseTokens } from "./lease.ts";
export {
  completeJob,
  completeJobs,
  failJob,
  finishCancelled,
  heartbeatJobs,
  releaseJobs,
} from "./outcome.ts";
export { deferJob } from "./defer.ts";
export { applyCallback, awaitCallback } from "./callbacks.ts";
export { cancelJob } from "./cancel.ts";
export { replayJob, retryJob } from "./replay.ts";
export { listDeadJobs, listDeadLetterGroups, replayDeadLetters } from "./dlq.ts";
export { drainQueue } from "./drain.ts";
export { getJob, jobTimeline, listJobs } from "./inspect.ts";
export { explainJob } from "./explain.ts";
export {
  createQueue,
  getQueue,
  getQueues,
  listQueues,
  setQueuePaused,
  setQueueRefusingNew,
  updateQueuePolicy,
} from "./queues.ts";
export {
  createSchedule,
  deleteSchedule,
  failingSchedules,
  fireDueSchedules,
  getSchedule,
  listSchedules,
  schedulerHealth,
  setSchedulePaused,
} from "./schedules.ts";
export { promoteDueJobs } from "./promote.ts";
export { reapExpiredLeases } from "./rescue.ts";
export { listWorkers, registerWorker, stopWorker, touchWorker } from "./workers.ts";
export { jobThroughput } from "./throughput.ts";
export { oldestWaitingSeconds } from "./waiting.ts";
export { listDecisions, recordDecision } from "./decisions.ts";
export { listSubscriptions, publish, subscribe, unsubscribe } from "./topics.ts";
export { enqueueWithParents, parentResults } from "./dependencies.ts";
export { cancelWorkflow, createWorkflow, getWorkflow, listWorkflows } from "./workflows.ts";
export { addJobs, closeBatch, createBatch, getBatch, listBatches } from "./batches.ts";
