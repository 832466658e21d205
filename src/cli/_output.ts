/**
 * Output helpers shared by operator commands: tables for people, JSON for scripts.
 * Everything returns or prints plain text (no colour), so output is the same piped or not.
 */

/** Renders rows as aligned columns with an upper-case header; `(no rows)` when empty. */
export function renderTable(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return "(no rows)";
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => formatCell(r[c])));
  const header = cols.map((c) => c.toUpperCase());
  const widths = cols.map((_, i) =>
    Math.max(header[i]!.length, ...cells.map((row) => row[i]!.length))
  );
  // The last column is not padded, so lines carry no trailing spaces.
  const line = (values: string[]) =>
    values.map((v, i) => i === values.length - 1 ? v : v.padEnd(widths[i]!)).join("  ")
      .trimEnd();
  return [line(header), ...cells.map(line)].join("\n");
}

export function printTable(rows: Record<string, unknown>[], columns?: string[]): void {
  console.log(renderTable(rows, columns));
}

/** Pretty JSON; bigint becomes a string (ids are strings of digits in every API shape). */
export function printJson(value: unknown): void {
  console.log(
    JSON.stringify(value, (_key, v) => typeof v === "bigint" ? v.toString() : v, 2),
  );
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (value instanceof Date) return formatTime(value);
  if (typeof value === "string") return value.replace(/\r?\n/g, "\\n");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A human duration with at most two units: `850ms`, `1.5s`, `42s`, `3m 20s`, `2h 5m`, `3d 4h`.
 * For reading, not for feeding back into config (see `showDuration` in src/config/parse.ts for that).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < SECOND) return `${Math.round(ms)}ms`;
  if (ms < 10 * SECOND) return `${Number((ms / SECOND).toFixed(1))}s`;
  if (ms < MINUTE) return `${Math.floor(ms / SECOND)}s`;
  const pairs: [number, string, number, string][] = [
    [DAY, "d", HOUR, "h"],
    [HOUR, "h", MINUTE, "m"],
    [MINUTE, "m", SECOND, "s"],
  ];
  for (const [big, bigUnit, small, smallUnit] of pairs) {
    if (ms >= big) {
      const major = Math.floor(ms / big);
      const minor = Math.floor((ms % big) / small);
      return minor === 0 ? `${major}${bigUnit}` : `${major}${bigUnit} ${minor}${smallUnit}`;
    }
  }
  return `${ms}ms`;
}

/** Coarse, one unit: `just now`, `3m ago`, `in 2h`. */
export function formatRelative(date: Date, now: Date = new Date()): string {
  const diff = date.getTime() - now.getTime();
  const abs = Math.abs(diff);
  if (abs < SECOND) return "just now";
  const amount = abs < MINUTE
    ? `${Math.floor(abs / SECOND)}s`
    : abs < HOUR
    ? `${Math.floor(abs / MINUTE)}m`
    : abs < DAY
    ? `${Math.floor(abs / HOUR)}h`
    : `${Math.floor(abs / DAY)}d`;
  return diff < 0 ? `${amount} ago` : `in ${amount}`;
}

/** `2026-01-01T00:00:00Z (3m ago)`; `-` for null. Accepts what postgres.js and JSON hand back. */
export function formatTime(
  date: Date | string | number | null | undefined,
  now: Date = new Date(),
): string {
  if (date === null || date === undefined) return "-";
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return String(date);
  const iso = d.toISOString().replace(/\.000Z$/, "Z");
  return `${iso} (${formatRelative(d, now)})`;
}

/** True when stdout is a terminal (people), false when piped (scripts). */
export function isTty(): boolean {
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}
