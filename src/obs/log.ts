/**
 * JSON-lines logger used by every role: `{"ts","level","msg","role",…fields}` on stdout, one
 * object per line, with stable `msg` names (DESIGN.md "Observability"). `pretty` is for humans
 * at a terminal. Fields named like secrets are dropped, so a careless call cannot leak one.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACT =
  /^(payload|token|secret|password|authorization|cookie|webhook-signature|signature)$/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  role?: string;
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stdout by default. Tests pass a collector. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = RANK[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => console.log(line));
  const emit = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (RANK[level] < min) return;
    const entry: Record<string, unknown> = { ts: new Date().toISOString(), level, msg };
    if (opts.role) entry.role = opts.role;
    for (const [k, v] of Object.entries({ ...base, ...fields })) {
      if (v === undefined || REDACT.test(k)) continue;
      entry[k] = v instanceof Error ? v.message : v;
    }
    write(opts.format === "pretty" ? pretty(entry) : JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
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
