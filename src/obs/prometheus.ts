/**
 * Prometheus text exposition format 0.0.4 (what `GET /metrics/prom` serves): `# HELP` and
 * `# TYPE` once per metric, label values escaped (`\\`, `"`, newline), histograms as cumulative
 * `_bucket{le=…}` lines ending with `le="+Inf"`, then `_sum` and `_count`.
 */
import type { Labels, Metric, Registry } from "./metrics.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function escapeLabelValue(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** Text for a list of metrics, e.g. `render(await registry.collect())`. */
export function render(metrics: readonly Metric[]): string {
  const lines: string[] = [];
  for (const m of metrics) {
    lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
    lines.push(`# TYPE ${m.name} ${m.type}`);
    if (m.type === "histogram") {
      for (const s of m.samples()) {
        m.buckets.forEach((b, i) => {
          lines.push(
            `${m.name}_bucket${formatLabels(s.labels, ["le", formatValue(b)])} ${s.counts[i]}`,
          );
        });
        lines.push(`${m.name}_bucket${formatLabels(s.labels, ["le", "+Inf"])} ${s.count}`);
        lines.push(`${m.name}_sum${formatLabels(s.labels)} ${formatValue(s.sum)}`);
        lines.push(`${m.name}_count${formatLabels(s.labels)} ${s.count}`);
      }
    } else {
      for (const s of m.samples()) {
        lines.push(`${m.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

/** Collects (runs the registry's collectors) and renders. */
export async function exposition(registry: Registry): Promise<string> {
  return render(await registry.collect());
}
