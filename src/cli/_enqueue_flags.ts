/** The job flags `jobs enqueue` and `topic publish` share, and the input they make. */
import type { EnqueueInput } from "../queue/enqueue.ts";
import { UsageError } from "./_command.ts";
import { durationFlag, intFlag, jsonFlag } from "./_operator.ts";

export const ENQUEUE_FLAGS = {
  kind: { type: "string" },
  payload: { type: "string" },
  priority: { type: "string" },
  delay: { type: "string" },
  "run-at": { type: "string" },
  "max-attempts": { type: "string" },
  timeout: { type: "string" },
  "idempotency-key": { type: "string" },
  tag: { type: "string", multiple: true },
  "concurrency-key": { type: "string" },
  throttle: { type: "string" },
  "throttle-per": { type: "string" },
  debounce: { type: "string" },
  "debounce-delay": { type: "string" },
} as const;

export type EnqueueFlagValues = {
  [K in keyof typeof ENQUEUE_FLAGS]?: typeof ENQUEUE_FLAGS[K] extends { multiple: true } ? string[]
    : string;
};

export const ENQUEUE_FLAG_NAMES = Object.keys(ENQUEUE_FLAGS) as (keyof typeof ENQUEUE_FLAGS)[];

export const ENQUEUE_FLAGS_HELP =
  `--kind K [--payload JSON] [--priority N] [--delay 30s | --run-at ISO]
          [--max-attempts N] [--timeout 30s] [--idempotency-key KEY] [--tag T]...
          [--concurrency-key KEY] [--throttle KEY --throttle-per 1m]
          [--debounce KEY --debounce-delay 30s]`;

/** The job the flags describe (without its queue); --kind is required. */
export function enqueueInputOf(v: EnqueueFlagValues): Omit<EnqueueInput, "queue"> {
  if (!v.kind) throw new UsageError("--kind is required");
  const pair = (key: string | undefined, dur: string | undefined, a: string, b: string) => {
    if ((key === undefined) !== (dur === undefined)) {
      throw new UsageError(`--${a} and --${b} go together`);
    }
    return key === undefined ? undefined : { key, ms: durationFlag(b, dur)! };
  };
  const throttle = pair(v.throttle, v["throttle-per"], "throttle", "throttle-per");
  const debounce = pair(v.debounce, v["debounce-delay"], "debounce", "debounce-delay");
  return {
    kind: v.kind,
    payload: jsonFlag("payload", v.payload),
    priority: intFlag("priority", v.priority, -32768, 32767),
    delayMs: durationFlag("delay", v.delay),
    runAt: v["run-at"],
    maxAttempts: intFlag("max-attempts", v["max-attempts"], 1, 1000),
    timeoutMs: durationFlag("timeout", v.timeout),
    idempotencyKey: v["idempotency-key"],
    tags: v.tag,
    concurrencyKey: v["concurrency-key"],
    throttle: throttle && { key: throttle.key, perMs: throttle.ms },
    debounce: debounce && { key: debounce.key, delayMs: debounce.ms },
    createdBy: "cli",
  };
}
