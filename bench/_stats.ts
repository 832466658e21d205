/** Small statistics and formatting helpers shared by the benchmark scripts. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median with min and max, as the tables print them. */
export function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return "—";
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1);
}

export function fmtMs(x: number | null): string {
  return x === null || !Number.isFinite(x) ? "—" : x < 10 ? x.toFixed(2) : x.toFixed(1);
}
