/**
 * Feeds the role's Prometheus registry to the OpenTelemetry metrics SDK as a MetricProducer, so
 * OTLP carries exactly the series `/metrics/prom` serves (same names, labels as attributes)
 * instead of a second set of instruments that could drift from them. Counters are cumulative
 * monotonic sums; histograms keep their bucket bounds (OTLP wants per-bucket counts, the
 * registry keeps cumulative ones).
 */
import type { HrTime } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type Histogram as OtlpHistogram,
  type MetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import { emptyResource } from "@opentelemetry/resources";
import type { Metric, Registry } from "../metrics.ts";
import { VERSION } from "../../version.ts";

const DOUBLE = 1; // ValueType.DOUBLE; a const enum value, spelled out for the bundle.

function hrTime(ms: number): HrTime {
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

export function toMetricData(m: Metric, start: HrTime, end: HrTime): MetricData {
  const descriptor = { name: m.name, description: m.help, unit: "", valueType: DOUBLE };
  const point = <T>(labels: Record<string, string>, value: T): DataPoint<T> => ({
    startTime: start,
    endTime: end,
    attributes: labels,
    value,
  });
  if (m.type === "histogram") {
    return {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: m.samples().map((s) => {
        const counts = s.counts.map((c, i) => c - (i === 0 ? 0 : s.counts[i - 1]!));
        counts.push(s.count - (s.counts.at(-1) ?? 0));
        const value: OtlpHistogram = {
          buckets: { boundaries: [...m.buckets], counts },
          sum: s.sum,
          count: s.count,
        };
        return point(s.labels, value);
      }),
    };
  }
  const dataPoints = m.samples().map((s) => point(s.labels, s.value));
  return m.type === "counter"
    ? {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    }
    : {
      descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints,
    };
}

export function registryProducer(registry: Registry): MetricProducer {
  const start = hrTime(Date.now());
  return {
    async collect(): Promise<CollectionResult> {
      const errors: unknown[] = [];
      // A failing collector (database gauges while PostgreSQL is away) still lets the
      // in-process series out; the error is the reader's to report.
      const metrics = await registry.collect().catch((e) => {
        errors.push(e);
        return registry.metrics();
      });
      const end = hrTime(Date.now());
      return {
        resourceMetrics: {
          resource: emptyResource(),
          scopeMetrics: [{
            scope: { name: "sluice", version: VERSION },
            metrics: metrics.filter((m) => m.samples().length > 0).map((m) =>
              toMetricData(m, start, end)
            ),
          }],
        },
        errors,
      };
    },
  };
}
