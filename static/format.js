// @ts-check
// Text for times, durations, numbers and field names. DOM-free, so `deno test` covers it.

/**
 * "5m ago" / "in 2h" / "just now".
 * @param {string|null|undefined} iso
 * @param {number} [now]
 */
export function relative(iso, now = Date.now()) {
  if (!iso) return "—";
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  /** @type {[number, string][]} */
  const units = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "m"], [1_000, "s"]];
  for (const [size, u] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      return ms < 0 ? `${n}${u} ago` : `in ${n}${u}`;
    }
  }
  return "just now";
}

/** @param {string|null|undefined} iso */
export function absolute(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.toLocaleString()} (${d.toISOString()})`;
}

/** A duration in milliseconds as "42s", "3m 5s", "2h 10m", "1d 4h". */
export function age(/** @type {number|null|undefined} */ ms) {
  if (ms == null) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** @param {number|string|null|undefined} n */
export const fmt = (n) => (n == null ? "—" : Number(n).toLocaleString());

/** "1 job", "1,204 jobs". */
export const jobCount = (/** @type {number} */ n) => `${fmt(n)} ${n === 1 ? "job" : "jobs"}`;

/** "HH:MM" in local time, for "stale since 14:05". */
export function clock(/** @type {number} */ ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

const ISO = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\b/g;

/**
 * Replaces ISO timestamps in a sentence (explain's text) by local time and distance from now:
 * "2026-12-04T01:02:03.000Z" → "04/12/2026, 02:02:03 (in 5m)".
 * @param {string} text
 * @param {number} [now]
 */
export function humanizeTimes(text, now = Date.now()) {
  return text.replace(ISO, (iso) => `${new Date(iso).toLocaleString()} (${relative(iso, now)})`);
}

/** "consecutiveFailures" → "Consecutive failures"; "tokenName" → "Token name". */
export function label(/** @type {string} */ key) {
  const words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replaceAll("_", " ").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** True when a string is an ISO timestamp (cells render it as a <time>). */
export const isIsoTime = (/** @type {unknown} */ v) =>
  typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v);
