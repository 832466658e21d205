import type { LogLevel } from "../log.ts";

/** What sdk.ts hands back to mod.ts: typed here so mod.ts need not import the SDK to name it. */
export interface SdkHandle {
  /** Sends one log line over OTLP; null when logs are not exported. */
  emitLog: ((level: LogLevel, entry: Record<string, unknown>) => void) | null;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** OpenTelemetry SeverityNumber for a log level (DEBUG 5, INFO 9, WARN 13, ERROR 17). */
export function logSeverity(level: LogLevel): number {
  return level === "debug" ? 5 : level === "info" ? 9 : level === "warn" ? 13 : 17;
}
