/**
 * A role's telemetry: `startTelemetry()` returns `TELEMETRY_OFF` (nothing loaded, nothing
 * registered: `@opentelemetry/api` stays a no-op) unless an OTLP endpoint is set, and otherwise
 * loads the SDK (sdk.ts, by dynamic import so that `deno run main.ts` without telemetry never
 * evaluates it; `deno bundle` still inlines it, so the bundle carries it).
 *
 * Instrumentation goes through the global `@opentelemetry/api` (trace.ts), against STYLE's "no
 * hidden singletons": it is the one global every OpenTelemetry library shares, so a library
 * user's own spans around `enqueueJobs()` or inside an inline handler join Sluice's traces.
 */
import type { Logger, LogTap } from "../log.ts";
import type { Registry } from "../metrics.ts";
import { ExportHealth, type SignalHealth } from "./health.ts";
import { anySignal, type TelemetrySettings } from "./settings.ts";
import { logIds } from "../trace.ts";

export interface Telemetry {
  readonly enabled: boolean;
  readonly settings: TelemetrySettings | null;
  /** Per-signal exporter health; empty when off. */
  health(): SignalHealth[];
  /** Sends what is queued now (verify telemetry, tests). */
  flush(): Promise<void>;
  /** Flushes and stops the exporters; the API returns to no-op. */
  shutdown(): Promise<void>;
}

export const TELEMETRY_OFF: Telemetry = {
  enabled: false,
  settings: null,
  health: () => [],
  flush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

export interface StartTelemetryOptions {
  settings: TelemetrySettings;
  role: string;
  /** The role's registry: its series are exported, and the exporter health series join it. */
  registry: Registry;
  /** The role's log tap: lines get trace ids and go out over OTLP logs. */
  tap?: LogTap;
  /** Where a signal starting to fail (and recovering) is logged. */
  log?: Logger;
  instanceId: string;
}

export async function startTelemetry(o: StartTelemetryOptions): Promise<Telemetry> {
  if (!anySignal(o.settings)) return TELEMETRY_OFF;
  const health = new ExportHealth(o.registry, o.settings.endpoints, (signal, failing, error) => {
    const fields = { signal, endpoint: o.settings.endpoints[signal] };
    if (failing) o.log?.warn("telemetry_export_failed", { ...fields, error });
    else o.log?.info("telemetry_export_recovered", fields);
  });
  const { startSdk } = await import("./sdk.ts");
  const sdk = startSdk({ ...o, health });
  const emit = sdk.emitLog;
  if (o.tap) {
    o.tap.attach((level, entry) => {
      const ids = logIds();
      if (ids) {
        entry.trace_id = ids.traceId;
        entry.span_id = ids.spanId;
      }
      emit?.(level, entry);
    });
  }
  let stopped = false;
  return {
    enabled: true,
    settings: o.settings,
    health: () => health.snapshot(),
    flush: () => sdk.flush(),
    shutdown: async () => {
      if (stopped) return;
      stopped = true;
      o.tap?.detach();
      await sdk.shutdown();
    },
  };
}
