/**
 * The exporter health block that `/health` (details) and `/v1/ops/queues` carry: whether OTLP
 * export is on, and per signal what was attempted, failed and dropped, and the last error.
 */
import { z } from "@hono/zod-openapi";
import type { Telemetry } from "../obs/telemetry/mod.ts";

export const TelemetryHealth = z.object({
  enabled: z.boolean(),
  protocol: z.string().nullable(),
  signals: z.array(z.object({
    signal: z.enum(["traces", "metrics", "logs"]),
    endpoint: z.string().nullable(),
    exportsAttempted: z.number(),
    exportsFailed: z.number(),
    itemsExported: z.number(),
    itemsDropped: z.number(),
    lastSuccessAt: z.string().nullable(),
    lastError: z.object({ message: z.string(), at: z.string() }).nullable(),
  })),
}).openapi("TelemetryHealth");

export function telemetryHealth(t: Telemetry | undefined): z.infer<typeof TelemetryHealth> {
  return {
    enabled: t?.enabled ?? false,
    protocol: t?.settings?.protocol ?? null,
    signals: t?.health() ?? [],
  };
}
