import { context } from "@opentelemetry/api";
import type { Logger } from "../obs/log.ts";
import type { ParentResult } from "../queue/dependencies.ts";
import type { Attempt, Attempts, Run } from "./attempt.ts";
import type { Deliver } from "./deliver.ts";
import { JobFailure } from "./failure.ts";
import type { Outcomes } from "./outcomes.ts";
import type { AttemptTracing } from "./tracing.ts";

export interface RunDeps {
  deliveries: Record<string, Deliver>;
  log: Logger;
  attempts: Attempts;
  outcomes: Outcomes;
  /** The handler succeeded: buffer the completion. */
  succeed(a: Attempt, run: Run, result: unknown): void;
  wake(): void;
  /** Set when telemetry is on: the delivery runs inside the attempt's span. */
  tracing?: AttemptTracing;
  /** Parents' results of a job, for HandlerContext.parents(). */
  parents(jobId: string): Promise<ParentResult[]>;
}

/** Runs a started attempt's delivery in the background and turns its end into an outcome. */
export function runAttempt(a: Attempt, run: Run, d: RunDeps): void {
  const { job, queue } = a;
  const deliver = d.deliveries[queue.effective.delivery.mode]!;
  const workerLog = d.log;
  let log: Logger | undefined;
  // Perf (issue #8): the job's logger is built only when a handler asks for it; building it
  // for every attempt was the largest JavaScript item in a CPU profile of no-op jobs.
  const ctx = {
    job,
    signal: run.controller.signal,
    parents: () => job.hasParents ? d.parents(job.id) : Promise.resolve([]),
    get log(): Logger {
      return log ??= workerLog.child({
        job_id: job.id,
        queue: job.queue,
        kind: job.kind,
        attempt: job.attempt,
      });
    },
  };
  void (async () => {
    try {
      const traced = d.tracing?.begin(job);
      const outcome = await (traced
        ? context.with(traced, () =>
          deliver(job, queue, ctx))
        : deliver(job, queue, ctx));
      if (outcome.status === "succeeded") d.succeed(a, run, outcome.result);
      else if (outcome.status === "awaiting_callback") await d.outcomes.awaitCallback(a);
      else await d.outcomes.defer(a, outcome.delayMs, outcome.reason);
    } catch (e) {
      // Thrown after a timeout, a lost lease or a shutdown aborted it: already decided.
      if (a.state.tag !== "running") return;
      const failure = e instanceof JobFailure
        ? e
        : new JobFailure("HANDLER_ERROR", e instanceof Error ? e.message : String(e));
      await d.outcomes.fail(a, failure, "failed");
    } finally {
      // An attempt released at shutdown whose handler ignored the abort leaves the set only now.
      if (d.attempts.get(job.id) === a && a.state.tag === "released") {
        d.attempts.delete(a);
        d.wake();
      }
    }
  })();
}
