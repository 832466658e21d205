/**
 * A `Retry-After` value (HTTP header or a callback's `retryAfter`) in milliseconds: seconds as
 * a number or digits, or an HTTP date; null when absent or unreadable (the backoff applies).
 */
export function retryAfterMs(
  v: number | string | undefined | null,
  nowMs = Date.now(),
): number | null {
  if (v === undefined || v === null || v === "") return null;
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : null;
  const text = v.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}
