/**
 * OTLP exporter health, per signal: exports attempted and failed, items dropped (the bounded
 * queue was full, typically because the collector is down), the last error and when things last
 * went right. Kept in the role's registry (`/metrics/prom`) and read by `/health` detail and
 * `/v1/ops/queues`, so a dashboard on "OTLP exporter health" needs nothing else.
 */
import { maskSecrets } from "../log.ts";
import type { Counter, Gauge, Registry } from "../metrics.ts";
import { type OtlpSignal, SIGNALS } from "./settings.ts";

export interface SignalHealth {
  signal: OtlpSignal;
  endpoint: string | null;
  exportsAttempted: number;
  exportsFailed: number;
  itemsExported: number;
  itemsDropped: number;
  lastSuccessAt: string | null;
  lastError: { message: string; at: string } | null;
}

const MAX_ERROR_LABEL = 200;

export class ExportHealth {
  readonly #attempts: Counter;
  readonly #failures: Counter;
  readonly #items: Counter;
  readonly #dropped: Counter;
  readonly #lastError: Gauge;
  readonly #lastSuccess: Gauge;
  readonly #state = new Map<OtlpSignal, SignalHealth>();
  readonly #failing = new Set<OtlpSignal>();

  /**
   * `onChange` hears a signal start failing and recover (one log line each way, not one per
   * failed export: an outage would otherwise log every second, and feed the log export).
   */
  constructor(
    registry: Registry,
    endpoints: Record<OtlpSignal, string | null>,
    readonly onChange: (signal: OtlpSignal, failing: boolean, error?: string) => void = () => {},
  ) {
    this.#attempts = registry.counter(
      "sluice_otlp_exports_total",
      "OTLP export requests attempted, by signal (traces, metrics, logs)",
      ["signal"],
    );
    this.#failures = registry.counter(
      "sluice_otlp_export_failures_total",
      "OTLP export requests that failed (collector down, refused, timed out), by signal",
      ["signal"],
    );
    this.#items = registry.counter(
      "sluice_otlp_exported_items_total",
      "Spans, metric data points or log records the collector accepted, by signal",
      ["signal"],
    );
    this.#dropped = registry.counter(
      "sluice_otlp_dropped_items_total",
      "Spans or log records dropped because the bounded export queue was full, by signal",
      ["signal"],
    );
    this.#lastError = registry.gauge(
      "sluice_otlp_export_last_error",
      "1 for the last OTLP export error per signal (the message is the error label); absent while none failed",
      ["signal", "error"],
    );
    this.#lastSuccess = registry.gauge(
      "sluice_otlp_export_last_success_timestamp_seconds",
      "Unix time of the last OTLP export the collector accepted, by signal",
      ["signal"],
    );
    for (const signal of SIGNALS) {
      if (endpoints[signal] === null) continue;
      this.#state.set(signal, {
        signal,
        endpoint: endpoints[signal],
        exportsAttempted: 0,
        exportsFailed: 0,
        itemsExported: 0,
        itemsDropped: 0,
        lastSuccessAt: null,
        lastError: null,
      });
      // Zero series exist from the start, so `rate()` and "absent" alerts work at once.
      for (const c of [this.#attempts, this.#failures, this.#items, this.#dropped]) {
        c.inc({ signal }, 0);
      }
    }
  }

  attempted(signal: OtlpSignal): void {
    this.#attempts.inc({ signal });
    this.#get(signal).exportsAttempted++;
  }

  succeeded(signal: OtlpSignal, items: number): void {
    const s = this.#get(signal);
    const now = new Date();
    s.itemsExported += items;
    s.lastSuccessAt = now.toISOString();
    this.#items.inc({ signal }, items);
    this.#lastSuccess.set({ signal }, now.getTime() / 1000);
    if (this.#failing.delete(signal)) this.onChange(signal, false);
  }

  failed(signal: OtlpSignal, error: unknown): void {
    const s = this.#get(signal);
    const message = maskSecrets(error instanceof Error ? error.message : String(error))
      .slice(0, MAX_ERROR_LABEL);
    s.exportsFailed++;
    s.lastError = { message, at: new Date().toISOString() };
    this.#failures.inc({ signal });
    this.#lastError.replace([
      ...this.#lastError.samples().filter((x) => x.labels.signal !== signal),
      { labels: { signal, error: message }, value: 1 },
    ]);
    if (!this.#failing.has(signal)) {
      this.#failing.add(signal);
      this.onChange(signal, true, message);
    }
  }

  dropped(signal: OtlpSignal, n = 1): void {
    this.#get(signal).itemsDropped += n;
    this.#dropped.inc({ signal }, n);
  }

  snapshot(): SignalHealth[] {
    return [...this.#state.values()].map((s) => ({ ...s }));
  }

  #get(signal: OtlpSignal): SignalHealth {
    const s = this.#state.get(signal);
    if (!s) throw new Error(`signal '${signal}' is not exported`);
    return s;
  }
}
