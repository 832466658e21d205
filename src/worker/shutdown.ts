import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { releaseJobs } from "../queue/outcome.ts";
import { type Attempt, type AttemptEvent, type Attempts, move, type Run } from "./attempt.ts";
import type { Clock } from "./clock.ts";
import type { CompletionBatch } from "./completions.ts";
import { JobFailure } from "./failure.ts";
import type { Prefetch } from "./prefetch.ts";

export interface DrainDeps {
  sql: Sql;
  clock: Clock;
  log: Logger;
  graceMs: number;
  attempts: Attempts;
  prefetch: Prefetch;
  completions: CompletionBatch;
  /** Renews attempts started on a prefetch lease (they need their full lease for the grace). */
  renewStarted(): Promise<void>;
  /** Sleeps until an attempt ends or `ms` pass. */
  wait(ms: number): Promise<unknown>;
  onAttempt?: (e: AttemptEvent) => void;
}

/** Lets running attempts finish within the grace, then gives back the held and the unfinished. */
export async function drain(d: DrainDeps): Promise<void> {
  const { clock, log, attempts } = d;
  const deadline = clock.now() + d.graceMs;
  const flush = () => d.completions.flush().catch((e) => log.warn("flush_failed", { error: e }));
  log.info("worker_stopping", { in_flight: attempts.size, grace_ms: d.graceMs });
  while (clock.now() < deadline) {
    await flush();
    if (attempts.size === 0) break;
    await d.renewStarted().catch((e) => log.warn("heartbeat_failed", { error: e }));
    await d.wait(Math.min(100, Math.max(1, deadline - clock.now())));
  }
  await flush();
  const held = d.prefetch.takeAll();
  if (held.length > 0) {
    for (const a of held) move(a, { tag: "released", reason: "shutdown" });
    const released = await release(d, held);
    log.info("jobs_released", { count: released.size, prefetched: true });
  }
  const rest: [Attempt, Run][] = [];
  for (const a of attempts.values()) if (a.state.tag === "running") rest.push([a, a.state.run]);
  if (rest.length === 0) return;
  const reason = new JobFailure("SHUTDOWN", "the worker stopped before the attempt finished");
  for (const [a, run] of rest) {
    attempts.move(a, { tag: "released", reason: "shutdown" });
    run.controller.abort(reason);
  }
  const released = await release(d, rest.map(([a]) => a));
  for (const [a, run] of rest) {
    d.onAttempt?.({ job: a.job, status: "released", durationMs: clock.now() - run.startedAt });
  }
  log.info("jobs_released", { count: released.size });
}

async function release(d: DrainDeps, list: Attempt[]): Promise<Set<string>> {
  return await releaseJobs(d.sql, list.map((a) => a.job)).catch((e) => {
    d.log.error("release_failed", { error: e, jobs: list.length });
    return new Set<string>();
  });
}
