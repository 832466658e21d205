/**
 * JSON-lines logger used by every role: `{"ts","level","msg","role",…fields}` on stdout, one
 * object per line, with stable `msg` names (DESIGN.md "Observability"). `pretty` is for humans
 * at a terminal.
 *
 * Never logs payloads, tokens, secrets or signature headers, so a careless call cannot leak one:
 * - a field (at any depth, e.g. inside a `headers` object) whose name ends in `payload`, `token`,
 *   `secret(s)`, `password`, `authorization`, `cookie`, `signature`, `api_key`, `private_key`
 *   or `credentials` is dropped (`token_name`, `payload_bytes` are fine: they end otherwise);
 * - string values that look like a credential (`sluice_…` API tokens, `whsec_…` secrets,
 *   `Bearer …`, the password in a `postgres://user:pass@` URL) are masked, also inside error
 *   messages.
 *
 * The one exception is explicit: a value wrapped in `shownOnce()` is written as is, for the
 * first admin token `sluice up` creates, which is shown exactly once and has to reach the
 * operator through the log when no terminal is attached (compose, systemd).
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACT =
  /(^|_)(payload|token|tokens|secret|secrets|password|passwd|authorization|cookie|set_cookie|signature|signatures|api_key|apikey|private_key|credential|credentials)$/;
const SECRET_VALUES: [RegExp, string][] = [
  [/\bsluice_[A-Za-z0-9_-]{16,}/g, "sluice_<redacted>"],
  [/\bwhsec_[A-Za-z0-9+/=]{8,}/g, "whsec_<redacted>"],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 <redacted>"],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi, "$1<redacted>@"],
];
const MAX_DEPTH = 6;

/** True for field names that must never reach a log line. */
export function isSecretField(name: string): boolean {
  return REDACT.test(name.toLowerCase().replaceAll("-", "_"));
}

/** Masks credential-looking substrings of a log value. */
export function maskSecrets(text: string): string {
  let out = text;
  for (const [re, to] of SECRET_VALUES) out = out.replace(re, to);
  return out;
}

/** A value the caller deliberately shows in full, once (see the header). */
export class ShownOnce {
  constructor(readonly value: string) {}
  toJSON(): string {
    return this.value;
  }
}

export function shownOnce(value: string): ShownOnce {
  return new ShownOnce(value);
}

function clean(value: unknown, depth: number): unknown {
  if (value instanceof ShownOnce) return value.value;
  if (typeof value === "string") return maskSecrets(value);
  if (value instanceof Error) return maskSecrets(value.message);
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (depth >= MAX_DEPTH) return "[nested]";
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  if (value instanceof Headers) value = Object.fromEntries(value.entries());
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || isSecretField(k)) continue;
    out[k] = clean(v, depth + 1);
  }
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /**
   * An info line written whatever SLUICE_LOG_LEVEL says: a role's ready line, which tells the
   * operator where it serves and may carry the first admin token (shown only this once).
   */
  announce(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * Where a role's telemetry taps its log lines (src/obs/telemetry/mod.ts): it may add fields to
 * the entry before it is written (`trace_id`, `span_id` inside a span) and export it. Nothing
 * attached (telemetry off) costs one property read per line.
 */
export class LogTap {
  fn: ((level: LogLevel, entry: Record<string, unknown>) => void) | null = null;
  attach(fn: (level: LogLevel, entry: Record<string, unknown>) => void): void {
    this.fn = fn;
  }
  detach(): void {
    this.fn = null;
  }
}

export interface LoggerOptions {
  role?: string;
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stdout by default. Tests pass a collector. */
  write?: (line: string) => void;
  tap?: LogTap;
}

export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = RANK[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => console.log(line));
  const emit = (
    level: LogLevel,
    msg: string,
    fields: Record<string, unknown> = {},
    always = false,
  ) => {
    if (RANK[level] < min && !always) return;
    const entry: Record<string, unknown> = { ts: new Date().toISOString(), level, msg };
    if (opts.role) entry.role = opts.role;
    for (const [k, v] of Object.entries({ ...base, ...fields })) {
      if (v === undefined || (isSecretField(k) && !(v instanceof ShownOnce))) continue;
      entry[k] = clean(v, 0);
    }
    opts.tap?.fn?.(level, entry);
    write(opts.format === "pretty" ? pretty(entry) : JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    announce: (m, f) => emit("info", m, f, true),
    child: (fields) => createLogger(opts, { ...base, ...fields }),
  };
}

function pretty(e: Record<string, unknown>): string {
  const { ts, level, msg, ...rest } = e;
  const tail = Object.entries(rest).map(([k, v]) =>
    `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
  );
  return `${String(ts).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${msg} ${
    tail.join(" ")
  }`.trimEnd();
}

/** A logger that drops everything: for library users who bring their own. */
export const silentLogger: Logger = createLogger({ write: () => {} });
