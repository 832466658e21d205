/**
 * The flow-control fields of an enqueue (docs/flow-control.md), validated: a concurrency key,
 * a throttle or a debounce. Kept apart from enqueue.ts so the throttle and debounce modules can
 * share the shapes without importing the enqueue path.
 */
import { SluiceError } from "../errors.ts";
import { isStorableText } from "./json_value.ts";

export interface ThrottleInput {
  key: string;
  /** The window: at most one job per key per this many ms. */
  perMs: number;
}

export interface DebounceInput {
  key: string;
  /** The quiet period: the job runs this long after the last enqueue with the key. */
  delayMs: number;
}

/** A window or delay longer than this is refused: a throttle row outliving retention is a leak. */
export const MAX_FLOW_WINDOW_MS = 30 * 24 * 3600 * 1000;

type Fail = (message: string, details?: Record<string, unknown>) => SluiceError;

/** A key as the flow fields take it: 1 to 255 storable characters, or null when absent. */
export function flowKey(key: string | null, field: string, fail: Fail): string | null {
  if (key === null) return null;
  if (typeof key !== "string" || key.length === 0 || key.length > 255 || !isStorableText(key)) {
    throw fail(`${field} must be 1 to 255 characters`);
  }
  return key;
}

function windowMs(ms: unknown, field: string, fail: Fail): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 1 || ms > MAX_FLOW_WINDOW_MS) {
    throw fail(`${field} must be between 1ms and 30 days`);
  }
  return ms;
}

/**
 * The throttle or debounce of one input, checked against the fields it cannot be combined
 * with: a debounce decides the run time itself, and each of them answers a repeat as the
 * earlier job, which an idempotency key would answer differently.
 */
export function flowOf(
  input: {
    throttle?: ThrottleInput;
    debounce?: DebounceInput;
    idempotencyKey?: string;
    runAt?: unknown;
    delayMs?: number;
  },
  fail: Fail,
): { throttle: ThrottleInput | null; debounce: DebounceInput | null } {
  const t = input.throttle ?? null, d = input.debounce ?? null;
  if (t === null && d === null) return { throttle: null, debounce: null };
  if (t !== null && d !== null) throw fail("give either throttle or debounce, not both");
  if (input.idempotencyKey !== undefined) {
    throw fail(`${t ? "throttle" : "debounce"} cannot be combined with idempotencyKey`);
  }
  if (d !== null && (input.runAt !== undefined || input.delayMs !== undefined)) {
    throw fail("debounce sets the run time itself: give no runAt or delay with it");
  }
  if (t !== null) {
    return {
      throttle: {
        key: flowKey(t.key, "throttle.key", fail)!,
        perMs: windowMs(t.perMs, "throttle.per", fail),
      },
      debounce: null,
    };
  }
  return {
    throttle: null,
    debounce: {
      key: flowKey(d!.key, "debounce.key", fail)!,
      delayMs: windowMs(d!.delayMs, "debounce.delay", fail),
    },
  };
}
