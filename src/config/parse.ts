/**
 * Parsers for variable values: each takes the raw text and returns the value or throws `Invalid`,
 * whose messages become the variable's problems. The `parse*`/`show*` pairs are also used
 * outside configuration (API query parameters, CLI flags), so both sides read durations and
 * sizes the same way.
 *
 * - Sizes: `KB`/`MB`/`GB`/`TB` are decimal (1MB = 1,000,000 bytes), `KiB`/`MiB`/`GiB`/`TiB`
 *   binary.
 * - Problem messages never quote the value of a secret variable (secret parsers say what is
 *   wrong without echoing the input).
 */

/** A listen address; `port` 0 asks the OS for a free port. */
export interface ListenAddr {
  hostname: string;
  port: number;
}

/** Thrown by a parser; each message becomes one problem for the variable. */
export class Invalid extends Error {
  constructor(readonly messages: string[]) {
    super(messages.join("; "));
  }
}

export function invalid(message: string): never {
  throw new Invalid([message]);
}

export function quote(value: string): string {
  return JSON.stringify(value);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION_HINT = "(use e.g. 500ms, 15s, 5m)";

/** `500ms`, `15s`, `5m`, `2h`, `7d`, `1h30m`, `1.5s`, or `0` → milliseconds. */
export function parseDuration(raw: string): number | null {
  const text = raw.trim();
  if (text === "0") return 0;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return null;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  return Number.isSafeInteger(Math.round(ms)) ? Math.round(ms) : null;
}

/** Exact, reversible form: the largest unit that divides evenly (90000 → `90s`, 3600000 → `1h`). */
export function showDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const unit of ["d", "h", "m", "s"]) {
    const size = DURATION_UNITS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export function duration({ min = 0, max = 365 * 86_400_000 }: { min?: number; max?: number } = {}) {
  return (raw: string): number => {
    const ms = parseDuration(raw);
    if (ms === null) invalid(`${quote(raw)} is not a duration ${DURATION_HINT}`);
    if (ms < min) invalid(`${quote(raw)} is too short (at least ${showDuration(min)})`);
    if (ms > max) invalid(`${quote(raw)} is too long (at most ${showDuration(max)})`);
    return ms;
  };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** `512KB`, `1MB`, `2GiB`, `1048576` → bytes (KB decimal, KiB binary). */
export function parseSize(raw: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  if (!m) return null;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

export function showSize(bytes: number): string {
  if (bytes === 0) return "0B";
  for (const unit of ["TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "KB"]) {
    const size = SIZE_UNITS[unit.toLowerCase()]!;
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

export function size() {
  return (raw: string): number => {
    const bytes = parseSize(raw);
    if (bytes === null) {
      invalid(`${quote(raw)} is not a size (use e.g. 512KB, 1MB, 2GiB or a number of bytes)`);
    }
    return bytes;
  };
}

export function int({ min, max }: { min: number; max: number }) {
  return (raw: string): number => {
    const text = raw.trim();
    if (!/^\d+$/.test(text)) invalid(`${quote(raw)} is not a whole number`);
    const n = Number(text);
    if (n < min || n > max) invalid(`${quote(raw)} is out of range (${min} to ${max})`);
    return n;
  };
}

/** Wraps a parser so one keyword (`off`, `none`) means null. */
export function orNull<T>(keyword: string, parse: (raw: string) => T) {
  return (raw: string): T | null => raw.trim().toLowerCase() === keyword ? null : parse(raw);
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

export function bool(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return invalid(`${quote(raw)} is not a boolean (use true, false, 1, 0, yes or no)`);
}

export function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    const text = raw.trim().toLowerCase();
    if ((values as readonly string[]).includes(text)) return text as T;
    return invalid(`${quote(raw)} is not one of ${values.join(", ")}`);
  };
}

function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** IPv6 validation by the WHATWG URL parser, which implements the full RFC 4291 grammar. */
function isIPv6(text: string): boolean {
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const ADDR_HINT = "(use e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080 or off)";

/** `host:port`, `[v6]:port`; port 0 picks a free port. */
export function parseListenAddr(raw: string): ListenAddr {
  const text = raw.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) {
    if ((text.match(/:/g) ?? []).length > 1) {
      invalid(
        `${
          quote(raw)
        } is not a host:port address (put IPv6 addresses in brackets, e.g. [::1]:8080)`,
      );
    }
    invalid(`${quote(raw)} is not a host:port address ${ADDR_HINT}`);
  }
  const hostname = m[1]!;
  const port = Number(m[2]);
  const bracketed = text.startsWith("[");
  if (bracketed ? !isIPv6(hostname) : !(isIPv4(hostname) || HOSTNAME.test(hostname))) {
    invalid(`${quote(raw)} has an invalid host ${quote(hostname)}`);
  }
  if (port > 65535) invalid(`${quote(raw)} has an invalid port (use 0 to 65535)`);
  return { hostname, port };
}

export function showListenAddr(addr: ListenAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

export function listenAddr(raw: string): ListenAddr | null {
  return orNull("off", parseListenAddr)(raw);
}

/** `10.0.0.0/8`, `fd00::/8`; a bare address means a single host (/32 or /128). */
export function parseCidr(raw: string): string | null {
  const text = raw.trim().toLowerCase();
  const [addr = "", prefix, extra] = text.split("/");
  if (extra !== undefined) return null;
  const max = isIPv4(addr) ? 32 : isIPv6(addr) ? 128 : 0;
  if (max === 0) return null;
  if (prefix === undefined) return `${addr}/${max}`;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return null;
  return `${addr}/${Number(prefix)}`;
}

/** A list as CSV (`a, b`) or a JSON array of strings (`["a","b"]`); blanks dropped. */
export function list(raw: string): string[] {
  const text = raw.trim();
  if (text.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return invalid(`${quote(raw)} is not a JSON array of strings`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
      return invalid(`${quote(raw)} is not a JSON array of strings`);
    }
    return parsed.map((s) => s.trim()).filter((s) => s !== "");
  }
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

export function cidrList(raw: string): string[] {
  const out: string[] = [];
  const bad: string[] = [];
  for (const item of list(raw)) {
    const cidr = parseCidr(item);
    if (cidr === null) bad.push(`${quote(item)} is not a CIDR (use e.g. 10.0.0.0/8 or fd00::/8)`);
    else if (!out.includes(cidr)) out.push(cidr);
  }
  if (bad.length > 0) throw new Invalid(bad);
  return out;
}

/** A key of 32+ characters (session cookies, backup signatures). */
export function longSecret(raw: string): string {
  const t = raw.trim();
  if (t.length < 32) invalid(`the secret must be at least 32 characters (got ${t.length})`);
  return t;
}

export function text({ max = 4096 }: { max?: number } = {}) {
  return (raw: string): string => {
    const t = raw.trim();
    if (t.length > max) invalid(`the value is longer than ${max} characters`);
    return t;
  };
}

/** A fraction from 0 to 1, e.g. `0.25`. */
export function ratio(raw: string): number {
  const text = raw.trim();
  const n = Number(text);
  if (text === "" || !Number.isFinite(n) || n < 0 || n > 1) {
    invalid(`${quote(raw)} is not a ratio from 0 to 1 (e.g. 0.25)`);
  }
  return n;
}
