/**
 * A small, strict parser of the Prometheus text format 0.0.4, for tests: it rejects what a real
 * scraper would (a sample before its # TYPE, bad label syntax, a histogram without +Inf or
 * with non-cumulative buckets), so "it parses" means something.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/;
const LABEL = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/;

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = text;
  while (rest.trim() !== "") {
    const m = LABEL.exec(rest);
    if (!m) throw new Error(`bad labels '${text}'`);
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    rest = rest.slice(m[0].length);
  }
  return out;
}

function parseValue(v: string): number {
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  if (v === "NaN") return NaN;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`bad value '${v}'`);
  return n;
}

export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) {
      const [, name, help] = /^# HELP (\S+) (.*)$/.exec(line) ?? [];
      if (!name) throw new Error(`bad HELP '${line}'`);
      if (families.has(name)) throw new Error(`duplicate family '${name}'`);
      families.set(name, { name, type: "untyped", help: help ?? "", samples: [] });
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [, name, type] =
        /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line) ??
          [];
      const f = name ? families.get(name) : undefined;
      if (!f || f.samples.length > 0) throw new Error(`TYPE out of place '${line}'`);
      f.type = type!;
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`bad sample line '${line}'`);
    const name = m[1]!;
    const base = families.get(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    const f = families.get(base);
    if (!f) throw new Error(`sample '${name}' before its # TYPE`);
    if (base !== name && f.type !== "histogram") throw new Error(`'${name}' in a ${f.type}`);
    f.samples.push({ name, labels: parseLabels(m[3] ?? ""), value: parseValue(m[4]!) });
  }
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: PromFamily): void {
  const series = new Map<string, PromSample[]>();
  for (const s of f.samples.filter((s) => s.name.endsWith("_bucket"))) {
    const { le: _le, ...rest } = s.labels;
    const k = JSON.stringify(rest);
    series.set(k, [...(series.get(k) ?? []), s]);
  }
  for (const [k, buckets] of series) {
    const last = buckets.at(-1)!;
    if (last.labels.le !== "+Inf") throw new Error(`${f.name}${k}: no +Inf bucket`);
    buckets.forEach((b, i) => {
      if (i > 0 && b.value < buckets[i - 1]!.value) throw new Error(`${f.name}: not cumulative`);
    });
    const count = f.samples.find((s) =>
      s.name === `${f.name}_count` &&
      JSON.stringify(s.labels) === k
    );
    if (!count || count.value !== last.value) throw new Error(`${f.name}${k}: _count != +Inf`);
  }
}

/** The value of one sample whose labels include `labels`, or undefined. */
export function valueOf(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const base = families.get(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
  return families.get(base)?.samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;
}
