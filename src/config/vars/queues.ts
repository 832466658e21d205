/**
 * Defaults for every queue's policy (attempts, backoff, timeout, admission limits); a queue's own
 * policy overrides each (src/queue/queues.ts picks these fields as `EngineDefaults`).
 */
import { duration, int, orNull, quote, showDuration, showSize, size } from "../parse.ts";
import { v } from "../spec.ts";

export const QUEUE_VARS = {
  taskTimeoutMs: v({
    name: "SLUICE_TASK_TIMEOUT",
    default: "5m",
    parse: duration({ min: 1 }),
    show: showDuration,
    description: "Default time one attempt may run before it is aborted; queues can override; 5m",
  }),
  maxAttempts: v({
    name: "SLUICE_MAX_ATTEMPTS",
    default: "5",
    parse: int({ min: 1, max: 1_000 }),
    description: "Default attempts before a job is dead-lettered (1 to 1000); default 5",
  }),
  backoffBaseMs: v({
    name: "SLUICE_BACKOFF_BASE",
    default: "1s",
    parse: duration({ min: 1 }),
    show: showDuration,
    description: "First retry delay; doubles per attempt with full jitter; default 1s",
  }),
  backoffMaxMs: v({
    name: "SLUICE_BACKOFF_MAX",
    default: "1h",
    parse: duration({ min: 1 }),
    show: showDuration,
    description: "Cap on the retry delay; default 1h",
  }),
  maxPayloadBytes: v({
    name: "SLUICE_MAX_PAYLOAD_BYTES",
    default: "1MB",
    parse: orNull<number>("none", size()),
    show: (b) => b === null ? "none" : showSize(b),
    nullLabel: "none",
    description:
      "Default largest job payload (512KB, 1MB, 2MiB); none = no limit; queues can override",
  }),
  maxEnqueuePerMinute: v({
    name: "SLUICE_MAX_ENQUEUE_PER_MINUTE",
    default: "none",
    parse: orNull<number>("none", int({ min: 1, max: Number.MAX_SAFE_INTEGER })),
    show: (n) => n === null ? "none" : String(n),
    nullLabel: "none",
    description: "Default enqueues per minute per queue; none = no limit (default)",
  }),
  maxQueueSize: v({
    name: "SLUICE_MAX_QUEUE_SIZE",
    default: "none",
    parse: orNull<number>("none", int({ min: 1, max: Number.MAX_SAFE_INTEGER })),
    show: (n) => n === null ? "none" : String(n),
    nullLabel: "none",
    description:
      "Default unfinished jobs per queue before enqueue answers QUEUE_FULL; none (default)",
  }),
};

/** Cross-field rules of this group, checked once every field parsed. */
export const QUEUE_CHECKS:
  ((c: { backoffBaseMs: number; backoffMaxMs: number }) => string | null)[] = [
    (c) =>
      c.backoffBaseMs > c.backoffMaxMs
        ? `SLUICE_BACKOFF_BASE: ${
          quote(showDuration(c.backoffBaseMs))
        } is longer than SLUICE_BACKOFF_MAX (${quote(showDuration(c.backoffMaxMs))})`
        : null,
  ];
