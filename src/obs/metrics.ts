/**
 * A small in-process metrics registry: counters, gauges and histograms with labels.
 *
 * Hand-written rather than prom-client: most of Sluice's series are facts read from PostgreSQL
 * at scrape time (queue depth, DLQ depth, workers, alerts), which fit a "collect" callback that
 * sets gauges from one query far better than prom-client's global default registry and its
 * per-metric `collect` hooks; and the exposition format is a few dozen lines
 * (src/obs/prometheus.ts). Each role builds its own `Registry` (no module-level singleton).
 */
export type Labels = Record<string, string>;
export type MetricType = "counter" | "gauge" | "histogram";

/** Seconds: from 1 ms to 5 min, roughly ×2.5 per step. */
export const DEFAULT_BUCKETS = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
];

export interface Sample {
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  labels: Labels;
  /** Cumulative counts per upper bound, same order as `buckets`. */
  counts: number[];
  sum: number;
  count: number;
}

interface MetricBase {
  name: string;
  help: string;
  labelNames: readonly string[];
}

/** Stable key for a label set, in the metric's label order. */
function keyOf(labelNames: readonly string[], labels: Labels): string {
  return JSON.stringify(labelNames.map((n) => labels[n] ?? ""));
}

function checkLabels(m: MetricBase, labels: Labels): void {
  for (const k of Object.keys(labels)) {
    if (!m.labelNames.includes(k)) {
      throw new Error(
        `metric '${m.name}' has no label '${k}' (labels: ${m.labelNames.join(", ")})`,
      );
    }
  }
}

export class Counter implements MetricBase {
  readonly type = "counter";
  readonly #values = new Map<string, Sample>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter '${this.name}' cannot decrease`);
    checkLabels(this, labels);
    const k = keyOf(this.labelNames, labels);
    const s = this.#values.get(k);
    if (s) s.value += by;
    else this.#values.set(k, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(this.labelNames, labels))?.value ?? 0;
  }

  samples(): Sample[] {
    return [...this.#values.values()];
  }
}

export class Gauge implements MetricBase {
  readonly type = "gauge";
  #values = new Map<string, Sample>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  set(labels: Labels, value: number): void {
    checkLabels(this, labels);
    this.#values.set(keyOf(this.labelNames, labels), { labels: { ...labels }, value });
  }

  inc(labels: Labels = {}, by = 1): void {
    this.set(labels, this.get(labels) + by);
  }

  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(this.labelNames, labels))?.value ?? 0;
  }

  /** Replaces every sample at once: for gauges computed from a query (vanished labels drop). */
  replace(samples: Sample[]): void {
    const next = new Map<string, Sample>();
    for (const s of samples) {
      checkLabels(this, s.labels);
      next.set(keyOf(this.labelNames, s.labels), { labels: { ...s.labels }, value: s.value });
    }
    this.#values = next;
  }

  samples(): Sample[] {
    return [...this.#values.values()];
  }
}

export class Histogram implements MetricBase {
  readonly type = "histogram";
  readonly #values = new Map<string, HistogramSample>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) {
      throw new Error(`histogram '${name}' buckets must increase`);
    }
  }

  observe(labels: Labels, value: number): void {
    checkLabels(this, labels);
    const k = keyOf(this.labelNames, labels);
    let s = this.#values.get(k);
    if (!s) {
      s = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#values.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  get(labels: Labels = {}): HistogramSample | undefined {
    return this.#values.get(keyOf(this.labelNames, labels));
  }

  samples(): HistogramSample[] {
    return [...this.#values.values()];
  }
}

export type Metric = Counter | Gauge | Histogram;

/**
 * Holds the metrics of one process. `collect` callbacks run before each exposition, so gauges
 * read from the database are fresh (they do their own caching).
 */
export class Registry {
  readonly #metrics = new Map<string, Metric>();
  readonly #collectors: (() => Promise<void> | void)[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets?: readonly number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs before each exposition; a failing collector is reported by the caller. */
  onCollect(fn: () => Promise<void> | void): void {
    this.#collectors.push(fn);
  }

  async collect(): Promise<Metric[]> {
    await Promise.all(this.#collectors.map((fn) => fn()));
    return this.metrics();
  }

  metrics(): Metric[] {
    return [...this.#metrics.values()];
  }

  get(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }

  #add<M extends Metric>(m: M): M {
    const existing = this.#metrics.get(m.name);
    if (existing) {
      // Registering the same series twice (two modules sharing a registry) returns the first.
      if (existing.type !== m.type) throw new Error(`metric '${m.name}' registered twice`);
      return existing as M;
    }
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name)) throw new Error(`bad metric name '${m.name}'`);
    this.#metrics.set(m.name, m);
    return m;
  }
}
