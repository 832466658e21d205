import type { LeasedJob } from "../queue/job.ts";
import type { ParentResult } from "../queue/dependencies.ts";
import type { Logger } from "../obs/log.ts";
import { JobFailure, permanentFailure } from "./failure.ts";

export interface HandlerContext {
  job: LeasedJob;
  /** Aborted on timeout, lost lease, cancellation or shutdown past the grace period. */
  signal: AbortSignal;
  log: Logger;
  /**
   * The job's parents (dependsOn, workflow edges) with their states and results, read when
   * called; [] for a job without parents (no query then).
   */
  parents(): Promise<ParentResult[]>;
}

/** An inline handler: its return value (JSON) becomes the job's result. */
export type Handler = (payload: unknown, ctx: HandlerContext) => unknown | Promise<unknown>;

export type HandlerMap = Map<string, Handler>;

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Kinds every `sluice up`/`sluice worker` can run: smoke tests, benchmarks, drills. */
export const BUILTIN_HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["sluice.noop", () => null],
  ["sluice.sleep", async (payload, { signal }) => {
    const ms = Number((payload as { ms?: unknown } | null)?.ms ?? 1000);
    if (!Number.isFinite(ms) || ms < 0) {
      throw permanentFailure('sluice.sleep needs {"ms": <non-negative number>}');
    }
    await sleep(ms, signal);
    return { slept: ms };
  }],
  ["sluice.fail", (payload) => {
    const p = (payload ?? {}) as { permanent?: unknown; message?: unknown };
    const message = typeof p.message === "string" ? p.message : "sluice.fail failed on purpose";
    throw new JobFailure("SLUICE_FAIL", message, { retryable: p.permanent !== true });
  }],
]);

export function handlerMap(custom: Record<string, Handler> | HandlerMap = {}): HandlerMap {
  const map = new Map(BUILTIN_HANDLERS);
  const entries = custom instanceof Map ? custom.entries() : Object.entries(custom);
  for (const [kind, fn] of entries) map.set(kind, fn);
  return map;
}
