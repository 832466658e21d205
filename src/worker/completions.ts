import { completeJobs } from "../queue/outcome.ts";
import type { Attempt, Run } from "./attempt.ts";
import type { WorkerContext } from "./context.ts";

interface Pending {
  attempt: Attempt;
  run: Run;
  result: unknown;
}

/**
 * Successes wait here until the loop writes a batch of them in one statement (Perf, issue #8).
 * A buffered success has freed its slot but keeps its lease (heartbeats renew it) until written.
 */
export class CompletionBatch {
  #pending: Pending[] = [];

  constructor(
    private readonly deps: WorkerContext,
  ) {}

  get size(): number {
    return this.#pending.length;
  }

  add(attempt: Attempt, run: Run, result: unknown): void {
    this.deps.attempts.move(attempt, { tag: "deciding", run, outcome: "succeeded" });
    this.#pending.push({ attempt, run, result });
  }

  /** Writes the buffered successes in one statement; on error they wait for the next flush. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const { sql, attempts, clock, log, onAttempt } = this.deps;
    const batch = this.#pending;
    this.#pending = [];
    for (const p of batch) attempts.move(p.attempt, { ...stateOf(p), tag: "writing" });
    let done: Set<string>;
    try {
      // asyncCommit: see CompleteOptions in src/queue/outcome.ts (at-least-once makes it safe).
      done = await completeJobs(
        sql,
        batch.map(({ attempt: { job }, result }) => ({
          id: job.id,
          attempt: job.attempt,
          leaseToken: job.leaseToken,
          result,
        })),
        { asyncCommit: true },
      );
    } catch (e) {
      for (const p of batch) attempts.move(p.attempt, stateOf(p));
      this.#pending = batch.concat(this.#pending);
      throw e;
    }
    for (const p of batch) {
      const { job } = p.attempt;
      const ok = done.has(job.id);
      const ms = clock.now() - p.run.startedAt;
      if (ok) {
        attempts.move(p.attempt, { ...stateOf(p), tag: "done" });
        log.debug("job_succeeded", {
          job_id: job.id,
          queue: job.queue,
          attempt: job.attempt,
          duration_ms: Math.round(ms),
        });
      } else {
        attempts.move(p.attempt, { tag: "lost" });
        log.warn("stale_lease", { job_id: job.id, attempt: job.attempt, outcome: "succeeded" });
      }
      onAttempt?.({ job, status: ok ? "succeeded" : "lost", durationMs: ms });
      attempts.delete(p.attempt);
    }
  }
}

const stateOf = (p: Pending) => ({
  tag: "deciding" as const,
  run: p.run,
  outcome: "succeeded" as const,
});
