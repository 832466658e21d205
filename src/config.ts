/**
 * The environment, validated by one zod schema built from one table (`VARS`).
 *
 * Adding a variable is one entry in `VARS`: name, parser, default, secret flag and a one-line
 * description. Everything else (the `Config` type, `_FILE` variants, unknown-name detection,
 * `describeConfig`, `sluice config check`) follows from the table.
 *
 * Decisions an operator may trip over, written down here:
 * - An empty value (`SLUICE_LEASE=`) means unset, so `Environment=SLUICE_LEASE=` in a systemd
 *   unit falls back to the default instead of failing.
 * - `NAME_FILE` reads the value from a file and strips trailing newlines; an empty file is a
 *   problem (a credential that failed to appear must not silently mean "use the default").
 * - Sizes: `KB`/`MB`/`GB`/`TB` are decimal (1MB = 1,000,000 bytes), `KiB`/`MiB`/`GiB`/`TiB`
 *   binary.
 * - `SLUICE_DELIVERY_DENY` adds to the default deny list (loopback, unspecified, link-local,
 *   cloud metadata); `SLUICE_DELIVERY_ALLOW` opens exceptions (e.g. `127.0.0.1/32` for a
 *   receiver on the same host) but never link-local or metadata, so a typo can never open the
 *   cloud metadata address to webhook delivery.
 * - Problem messages never quote the value of a secret variable.
 */
import { z } from "zod";
import { SluiceError } from "./errors.ts";
import { isQueueName } from "./queue/names.ts";
import { backupKeyId } from "./backup/key.ts";
import { describePostgresUrl, parsePostgresUrl } from "./db/url.ts";

export type ConfigSource = "env" | "file" | "default";

/** A listen address; `port` 0 asks the OS for a free port. */
export interface ListenAddr {
  hostname: string;
  port: number;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

// ---------------------------------------------------------------------------------------------
// Table machinery

/** Thrown by a parser; each message becomes one problem for the variable. */
class Invalid extends Error {
  constructor(readonly messages: string[]) {
    super(messages.join("; "));
  }
}

function invalid(message: string): never {
  throw new Invalid([message]);
}

interface VarSpec<T> {
  name: string;
  /** One line with units, default and special values; shown by `sluice config check --help`. */
  description: string;
  /** Raw default text (parsed like a user's value), a function computing it, or null (unset → null). */
  default: string | (() => string) | null;
  secret: boolean;
  /** Parses the raw text (never undefined once the default is applied; null default → null). */
  schema: z.ZodType<T, string | undefined>;
  /** Human form of a parsed value for `describeConfig`. */
  show: (value: T) => string;
}

interface SpecInput<T> {
  name: string;
  description: string;
  secret?: boolean;
  parse: (raw: string) => T;
  show?: (value: T) => string;
  /** How null shows in `describeConfig` (e.g. "off", "none"). */
  nullLabel?: string;
  /** For secrets: what may be shown instead of the value (default `<redacted, N chars>`). */
  redact?: (value: T) => string;
}

function defaultShow(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.join(",");
  return String(value);
}

// Overloads: a variable with a default is never null; one without is `T | null`.
function v<T>(spec: SpecInput<T> & { default: string | (() => string) }): VarSpec<T>;
function v<T>(spec: SpecInput<T> & { default: null }): VarSpec<T | null>;
function v<T>(
  spec: SpecInput<T> & { default: string | (() => string) | null },
): VarSpec<T | null> {
  const secret = spec.secret ?? false;
  const nullLabel = spec.nullLabel ?? "(unset)";
  const schema = z.string().optional().transform((raw, ctx): T | null => {
    if (raw === undefined) return null;
    try {
      return spec.parse(raw);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      for (const message of e.messages) ctx.addIssue({ code: "custom", message, input: raw });
      return z.NEVER;
    }
  });
  const show = (value: T | null): string => {
    if (value === null) return nullLabel;
    if (secret) return spec.redact ? spec.redact(value) : redactLength(value);
    return spec.show ? spec.show(value) : defaultShow(value);
  };
  return {
    name: spec.name,
    description: spec.description,
    default: spec.default,
    secret,
    schema,
    show,
  };
}

function redactLength(value: unknown): string {
  if (Array.isArray(value)) {
    return `<redacted, ${value.length} ${value.length === 1 ? "secret" : "secrets"}>`;
  }
  return `<redacted, ${String(value).length} chars>`;
}

// ---------------------------------------------------------------------------------------------
// Parsers: each takes the raw text and returns the value or throws `Invalid`

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

function duration({ min = 0, max = 365 * 86_400_000 }: { min?: number; max?: number } = {}) {
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

function size() {
  return (raw: string): number => {
    const bytes = parseSize(raw);
    if (bytes === null) {
      invalid(`${quote(raw)} is not a size (use e.g. 512KB, 1MB, 2GiB or a number of bytes)`);
    }
    return bytes;
  };
}

function int({ min, max }: { min: number; max: number }) {
  return (raw: string): number => {
    const text = raw.trim();
    if (!/^\d+$/.test(text)) invalid(`${quote(raw)} is not a whole number`);
    const n = Number(text);
    if (n < min || n > max) invalid(`${quote(raw)} is out of range (${min} to ${max})`);
    return n;
  };
}

/** Wraps a parser so one keyword (`off`, `none`) means null. */
function orNull<T>(keyword: string, parse: (raw: string) => T) {
  return (raw: string): T | null => raw.trim().toLowerCase() === keyword ? null : parse(raw);
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

function bool(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return invalid(`${quote(raw)} is not a boolean (use true, false, 1, 0, yes or no)`);
}

function oneOf<T extends string>(values: readonly T[]) {
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

function listenAddr(raw: string): ListenAddr | null {
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
function list(raw: string): string[] {
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

function cidrList(raw: string): string[] {
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

function queueList(raw: string): string[] | null {
  const out: string[] = [];
  const bad: string[] = [];
  for (const name of list(raw)) {
    if (!isQueueName(name)) {
      bad.push(
        `${
          quote(name)
        } is not a valid queue name (lowercase letters and digits separated by '.', '_' or '-', at most 64 characters)`,
      );
    } else if (!out.includes(name)) out.push(name);
  }
  if (bad.length > 0) throw new Invalid(bad);
  return out.length === 0 ? null : out;
}

function postgresUrl(raw: string): string {
  const text = raw.trim();
  try {
    parsePostgresUrl(text);
  } catch (e) {
    // The problem never quotes the value: it may hold a password.
    return invalid(String((e as SluiceError).details?.problem ?? (e as Error).message));
  }
  return text;
}

/** Shows where the database is (scheme, user, hosts, database) but never the password or query. */
function redactUrl(value: string): string {
  try {
    return describePostgresUrl(value);
  } catch {
    return redactLength(value);
  }
}

function signingSecrets(raw: string): string[] {
  // Split on commas only: base64 never contains one, and spaces could be part of a secret.
  const secrets = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const bad: string[] = [];
  secrets.forEach((secret, i) => {
    const which = `secret ${i + 1} of ${secrets.length}`;
    if (secret.startsWith("whsec_")) {
      let bytes = 0;
      try {
        bytes = atob(secret.slice("whsec_".length)).length;
      } catch {
        bad.push(`${which} starts with "whsec_" but the rest is not base64`);
        return;
      }
      if (bytes < 16) bad.push(`${which} decodes to ${bytes} bytes (at least 16)`);
    } else if (secret.length < 16) {
      bad.push(
        `${which} is ${secret.length} characters (at least 16, or whsec_ followed by base64)`,
      );
    }
  });
  if (bad.length > 0) throw new Invalid(bad);
  return secrets;
}

function bootstrapToken(raw: string): string {
  const text = raw.trim();
  if (!text.startsWith("sluice_") || text.length < 32 || /\s/.test(text)) {
    invalid(
      `the token must start with "sluice_", be at least 32 characters and contain no spaces (got ${text.length} characters)`,
    );
  }
  return text;
}

function sessionSecret(raw: string): string {
  const t = raw.trim();
  if (t.length < 32) invalid(`the secret must be at least 32 characters (got ${t.length})`);
  return t;
}

function text({ max = 4096 }: { max?: number } = {}) {
  return (raw: string): string => {
    const t = raw.trim();
    if (t.length > max) invalid(`the value is longer than ${max} characters`);
    return t;
  };
}

function workerId(raw: string): string {
  const t = raw.trim();
  if (t.length > 128 || !/^[\x21-\x7e]+$/.test(t)) {
    invalid(`${quote(raw)} is not a worker id (1 to 128 printable characters, no spaces)`);
  }
  return t;
}

function defaultWorkerId(): string {
  let host = "sluice";
  try {
    host = Deno.hostname();
  } catch {
    // No --allow-sys: the pid alone still tells workers on one host apart.
  }
  return `${host}-${Deno.pid}`;
}

function quote(value: string): string {
  return JSON.stringify(value);
}

/** Always denied for http delivery (SLUICE_DELIVERY_ALLOW cannot open them): link-local and cloud metadata. */
export const BUILTIN_DELIVERY_DENY: readonly string[] = [
  "169.254.0.0/16",
  "fd00:ec2::254/128",
  "100.100.100.200/32",
  "fe80::/10",
];

/**
 * Denied by default, opened only by SLUICE_DELIVERY_ALLOW: this host (loopback, and the
 * unspecified addresses that reach it). A queue URL is an admin's choice, but whoever holds an
 * admin token should not thereby reach every service bound to 127.0.0.1 and read its answers.
 */
export const LOCAL_DELIVERY_DENY: readonly string[] = [
  "127.0.0.0/8",
  "::1/128",
  "0.0.0.0/8",
  "::/128",
];

/** A fraction from 0 to 1, e.g. `0.25`. */
function ratio(raw: string): number {
  const text = raw.trim();
  const n = Number(text);
  if (text === "" || !Number.isFinite(n) || n < 0 || n > 1) {
    invalid(`${quote(raw)} is not a ratio from 0 to 1 (e.g. 0.25)`);
  }
  return n;
}

/** Maintenance services that `SLUICE_MAINTENANCE_DISABLE` may name (src/maintenance/services.ts). */
export const MAINTENANCE_SERVICE_NAMES = [
  "reaper",
  "promoter",
  "scheduler",
  "archiver",
  "pruner",
  "scrubber",
  "counter",
  "alerts",
  "vacuum",
  "table_health",
] as const;

function serviceList(raw: string): string[] {
  const names = list(raw).map((s) => s.toLowerCase());
  const bad = names.filter((n) => !(MAINTENANCE_SERVICE_NAMES as readonly string[]).includes(n));
  if (bad.length > 0) {
    invalid(
      `${bad.map(quote).join(", ")} ${
        bad.length === 1 ? "is not a" : "are not"
      } maintenance service${bad.length === 1 ? "" : "s"} (use ${
        MAINTENANCE_SERVICE_NAMES.join(", ")
      })`,
    );
  }
  return [...new Set(names)];
}

// ---------------------------------------------------------------------------------------------
// The table. Order is the order of `describeConfig` and of problems.

const VARS = {
  databaseUrl: v({
    name: "DATABASE_URL",
    default: null,
    secret: true,
    parse: postgresUrl,
    redact: redactUrl,
    nullLabel: "(embedded PostgreSQL in SLUICE_DATA_DIR)",
    description:
      "PostgreSQL URL (postgres://user:pass@host:5432/db); unset = embedded cluster in SLUICE_DATA_DIR",
  }),
  dataDir: v({
    name: "SLUICE_DATA_DIR",
    default: "./sluice-data",
    parse: text(),
    description:
      "Directory for the embedded PostgreSQL cluster and local state; default ./sluice-data",
  }),
  pgBin: v({
    name: "SLUICE_PG_BIN",
    default: null,
    parse: text(),
    nullLabel: "(search PATH and /usr/lib/postgresql/*/bin)",
    description: "Directory holding initdb and pg_ctl for the embedded cluster; unset = search",
  }),
  apiAddr: v({
    name: "SLUICE_API_ADDR",
    default: "127.0.0.1:8080",
    parse: listenAddr,
    show: (a) => a === null ? "off" : showListenAddr(a),
    nullLabel: "off",
    description:
      "HTTP API listen address host:port ([::1]:8080 for IPv6, port 0 = any); off disables",
  }),
  workerId: v({
    name: "SLUICE_WORKER_ID",
    default: defaultWorkerId,
    parse: workerId,
    description: "This worker's name in timelines and leases; default <hostname>-<pid>",
  }),
  queues: v({
    name: "SLUICE_QUEUES",
    default: null,
    parse: queueList,
    nullLabel: "(all queues)",
    description: "Queues this worker leases from, comma-separated; unset or empty = all queues",
  }),
  concurrency: v({
    name: "SLUICE_CONCURRENCY",
    default: "10",
    parse: int({ min: 1, max: 10_000 }),
    description: "Jobs one worker runs at once (1 to 10000); default 10",
  }),
  leaseMs: v({
    name: "SLUICE_LEASE",
    default: "30s",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "Lease length, extended by heartbeats; a dead worker's jobs return after it (min 1s)",
  }),
  pollMs: v({
    name: "SLUICE_POLL",
    default: "1s",
    parse: duration({ min: 10 }),
    show: showDuration,
    description: "Fallback poll interval; LISTEN/NOTIFY is the normal wake-up; default 1s",
  }),
  taskTimeoutMs: v({
    name: "SLUICE_TASK_TIMEOUT",
    default: "5m",
    parse: duration({ min: 1 }),
    show: showDuration,
    description: "Default time one attempt may run before it is aborted; queues can override; 5m",
  }),
  maxAttempts: v({
    name: "SLUICE_MAX_ATTEMPTS",
    default: "5",
    parse: int({ min: 1, max: 1_000 }),
    description: "Default attempts before a job is dead-lettered (1 to 1000); default 5",
  }),
  backoffBaseMs: v({
    name: "SLUICE_BACKOFF_BASE",
    default: "1s",
    parse: duration({ min: 1 }),
    show: showDuration,
    description: "First retry delay; doubles per attempt with full jitter; default 1s",
  }),
  backoffMaxMs: v({
    name: "SLUICE_BACKOFF_MAX",
    default: "1h",
    parse: duration({ min: 1 }),
    show: showDuration,
    description: "Cap on the retry delay; default 1h",
  }),
  shutdownGraceMs: v({
    name: "SLUICE_SHUTDOWN_GRACE",
    default: "30s",
    parse: duration(),
    show: showDuration,
    description: "On SIGTERM, how long running jobs may finish before they are released; 30s",
  }),
  migrateOnStartup: v({
    name: "SLUICE_MIGRATE_ON_STARTUP",
    default: null,
    parse: bool,
    nullLabel: "(role default)",
    description: "Apply pending migrations at start (true/false/1/0/yes/no); unset = role default",
  }),
  workerMetricsAddr: v({
    name: "SLUICE_WORKER_METRICS_ADDR",
    default: "127.0.0.1:9464",
    parse: listenAddr,
    show: (a) => a === null ? "off" : showListenAddr(a),
    nullLabel: "off",
    description:
      "Worker /healthz and /metrics listen address; off disables; default 127.0.0.1:9464",
  }),
  healthAllowlist: v({
    name: "SLUICE_HEALTH_ALLOWLIST",
    default: "",
    parse: cidrList,
    description: "CIDRs (CSV or JSON array) that see /health details without a token; default none",
  }),
  trustedProxies: v({
    name: "SLUICE_TRUSTED_PROXIES",
    default: "",
    parse: cidrList,
    description:
      "CIDRs (CSV or JSON array) of reverse proxies whose X-Forwarded-For names the client; default none (the socket's address)",
  }),
  logLevel: v({
    name: "SLUICE_LOG_LEVEL",
    default: "info",
    parse: oneOf<LogLevel>(["debug", "info", "warn", "error"]),
    description: "debug, info, warn or error; default info",
  }),
  logFormat: v({
    name: "SLUICE_LOG_FORMAT",
    default: "json",
    parse: oneOf<LogFormat>(["json", "pretty"]),
    description: "json (one object per line) or pretty; default json",
  }),
  maxPayloadBytes: v({
    name: "SLUICE_MAX_PAYLOAD_BYTES",
    default: "1MB",
    parse: orNull<number>("none", size()),
    show: (b) => b === null ? "none" : showSize(b),
    nullLabel: "none",
    description:
      "Default largest job payload (512KB, 1MB, 2MiB); none = no limit; queues can override",
  }),
  maxEnqueuePerMinute: v({
    name: "SLUICE_MAX_ENQUEUE_PER_MINUTE",
    default: "none",
    parse: orNull<number>("none", int({ min: 1, max: Number.MAX_SAFE_INTEGER })),
    show: (n) => n === null ? "none" : String(n),
    nullLabel: "none",
    description: "Default enqueues per minute per queue; none = no limit (default)",
  }),
  maxQueueSize: v({
    name: "SLUICE_MAX_QUEUE_SIZE",
    default: "none",
    parse: orNull<number>("none", int({ min: 1, max: Number.MAX_SAFE_INTEGER })),
    show: (n) => n === null ? "none" : String(n),
    nullLabel: "none",
    description:
      "Default unfinished jobs per queue before enqueue answers QUEUE_FULL; none (default)",
  }),
  maxBatchSize: v({
    name: "SLUICE_MAX_BATCH_SIZE",
    default: "10000",
    parse: int({ min: 1, max: 1_000_000 }),
    description: "Most jobs in one POST /v1/jobs/batch; default 10000",
  }),
  archiveSucceededAfterMs: v({
    name: "SLUICE_ARCHIVE_SUCCEEDED_AFTER",
    default: "7d",
    parse: duration({ min: 1_000, max: 36_500 * 86_400_000 }),
    show: showDuration,
    description: "Succeeded jobs move to the archive after this age; default 7d",
  }),
  pruneHistoryAfterMs: v({
    name: "SLUICE_PRUNE_HISTORY_AFTER",
    default: "30d",
    parse: duration({ min: 1_000, max: 36_500 * 86_400_000 }),
    show: showDuration,
    description: "Archived jobs and their history are deleted after this age; default 30d",
  }),
  scrubPayloadsAfterMs: v({
    name: "SLUICE_SCRUB_PAYLOADS_AFTER",
    default: "off",
    parse: orNull<number>("off", duration({ min: 1_000, max: 36_500 * 86_400_000 })),
    show: (ms) => ms === null ? "off" : showDuration(ms),
    nullLabel: "off",
    description: "Payloads of finished jobs are blanked after this age; off (default) keeps them",
  }),
  maintenanceIntervalMs: v({
    name: "SLUICE_MAINTENANCE_INTERVAL",
    default: "5s",
    parse: duration({ min: 100 }),
    show: showDuration,
    description: "Pause between maintenance passes (reaper, scheduler, archiver…); default 5s",
  }),
  signingSecrets: v({
    name: "SLUICE_SIGNING_SECRETS",
    default: "",
    secret: true,
    parse: signingSecrets,
    redact: (s) => s.length === 0 ? "(none)" : redactLength(s),
    description:
      "Webhook signing secrets, comma list, each 16+ chars or whsec_<base64>; the first signs, all verify",
  }),
  signatureToleranceMs: v({
    name: "SLUICE_SIGNATURE_TOLERANCE",
    default: "5m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description: "How far a signed callback's timestamp may be from now, either way; default 5m",
  }),
  bootstrapToken: v({
    name: "SLUICE_BOOTSTRAP_TOKEN",
    default: null,
    secret: true,
    parse: bootstrapToken,
    description:
      "An admin token accepted as-is (stored hashed); sluice_ prefix, 32+ chars; for automation",
  }),
  sessionSecret: v({
    name: "SLUICE_SESSION_SECRET",
    default: null,
    secret: true,
    parse: sessionSecret,
    description:
      "Key for ops page session cookies, 32+ chars; unset = random per process (sessions end at restart; set it when several api processes share an address)",
  }),
  backupKey: v({
    name: "SLUICE_BACKUP_KEY",
    default: null,
    secret: true,
    // The session secret's rule: 32+ characters.
    parse: sessionSecret,
    // The key id is written into every signed archive: showing it tells which key is loaded.
    redact: (k) => `<redacted, key id ${backupKeyId(k)}>`,
    nullLabel: "(none: archives unsigned)",
    description:
      "Key that signs backups (HMAC-SHA256), 32+ chars; backup verify and restore then refuse unsigned or altered archives; unset = unsigned",
  }),
  apiRequestTimeoutMs: v({
    name: "SLUICE_API_REQUEST_TIMEOUT",
    default: "30s",
    parse: duration({ min: 100 }),
    show: showDuration,
    description: "Longest an API request may take before it answers 504 TIMEOUT; default 30s",
  }),
  dbStatementTimeoutMs: v({
    name: "SLUICE_DB_STATEMENT_TIMEOUT",
    default: "5s",
    parse: orNull<number>("off", duration({ min: 10, max: 86_400_000 })),
    show: (ms) => ms === null ? "off" : showDuration(ms),
    nullLabel: "off",
    description:
      "Longest one database statement of an API request may run before it answers 504 DATABASE_TIMEOUT; off = none; 5s (maintenance, workers, migrate, backup and restore have none)",
  }),
  metricsPublic: v({
    name: "SLUICE_METRICS_PUBLIC",
    default: "false",
    parse: bool,
    description: "Serve /metrics and /metrics/prom without a token (true/false); default false",
  }),
  minFreeDiskBytes: v({
    name: "SLUICE_MIN_FREE_DISK",
    default: "1GB",
    parse: size(),
    show: showSize,
    description:
      "Embedded PostgreSQL refuses to start below this free space in SLUICE_DATA_DIR; 0 disables",
  }),
  deliveryDeny: v({
    name: "SLUICE_DELIVERY_DENY",
    default: "",
    parse: (raw) => [
      ...new Set([...BUILTIN_DELIVERY_DENY, ...LOCAL_DELIVERY_DENY, ...cidrList(raw)]),
    ],
    description:
      "Extra CIDRs http delivery may not reach, added to loopback, unspecified, link-local and cloud metadata",
  }),
  deliveryAllow: v({
    name: "SLUICE_DELIVERY_ALLOW",
    default: "",
    parse: cidrList,
    description:
      "CIDRs http delivery may reach despite the deny list (e.g. 127.0.0.1/32); never link-local or metadata",
  }),
  apiRateLimitPerMinute: v({
    name: "SLUICE_API_RATE_LIMIT",
    default: "6000",
    parse: orNull<number>("none", int({ min: 1, max: Number.MAX_SAFE_INTEGER })),
    show: (n) => n === null ? "none" : String(n),
    nullLabel: "none",
    description:
      "API requests per minute per token (or per IP when anonymous); none = no limit; 6000",
  }),
  circuitFailures: v({
    name: "SLUICE_CIRCUIT_FAILURES",
    default: "5",
    parse: int({ min: 1, max: 1_000_000 }),
    description: "Consecutive failures to one http origin that open its circuit; default 5",
  }),
  circuitFailureRatio: v({
    name: "SLUICE_CIRCUIT_FAILURE_RATIO",
    default: "0.5",
    parse: (raw) => {
      const n = Number(raw.trim());
      if (!(n > 0 && n <= 1)) invalid(`${quote(raw)} is not a ratio above 0 and at most 1`);
      return n;
    },
    description:
      "Failure ratio within SLUICE_CIRCUIT_WINDOW (after 20+ requests) that opens a circuit; 0.5",
  }),
  circuitWindowMs: v({
    name: "SLUICE_CIRCUIT_WINDOW",
    default: "1m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description: "Window over which an http origin's failure ratio is counted; default 1m",
  }),
  circuitCooldownMs: v({
    name: "SLUICE_CIRCUIT_COOLDOWN",
    default: "30s",
    parse: duration({ min: 100 }),
    show: showDuration,
    description: "How long an open circuit defers jobs before one probe is sent; default 30s",
  }),
  maintenanceDisable: v({
    name: "SLUICE_MAINTENANCE_DISABLE",
    default: "",
    parse: serviceList,
    description:
      "Maintenance services not to run, comma list (e.g. archiver,scrubber); default none",
  }),
  maintenanceLeaderTtlMs: v({
    name: "SLUICE_MAINTENANCE_LEADER_TTL",
    default: "15s",
    parse: duration({ min: 1_000, max: 600_000 }),
    show: showDuration,
    description:
      "Maintenance leader lease; another process takes over this long after the leader dies; 15s",
  }),
  scheduleMissed: v({
    name: "SLUICE_SCHEDULE_MISSED",
    default: "skip",
    parse: oneOf(["skip", "once"] as const),
    description:
      "Default for cron slots missed while down: skip them, or run once for all; default skip",
  }),
  alertStaleHeartbeatRatio: v({
    name: "SLUICE_ALERT_STALE_HEARTBEAT_RATIO",
    default: "0.25",
    parse: ratio,
    description: "Alert when this share of running jobs missed heartbeats for 5m; default 0.25",
  }),
  alertCallbackFailureRatio: v({
    name: "SLUICE_ALERT_CALLBACK_FAILURE_RATIO",
    default: "0.10",
    parse: ratio,
    description: "Alert when this share of callbacks failed or were refused over 10m; default 0.10",
  }),
  alertRetrySuccessRate: v({
    name: "SLUICE_ALERT_RETRY_SUCCESS_RATE",
    default: "0.70",
    parse: ratio,
    description: "Alert when fewer retried jobs than this succeed over 30m; default 0.70",
  }),
  alertSuccessRate: v({
    name: "SLUICE_ALERT_SUCCESS_RATE",
    default: "0.90",
    parse: ratio,
    description: "Alert when fewer finished jobs than this succeed over 30m; default 0.90",
  }),
  alertDepthGrowthMs: v({
    name: "SLUICE_ALERT_DEPTH_GROWTH_FOR",
    default: "15m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "Alert when a queue's runnable depth grew at every sample (one per 1/15) for this long; 15m",
  }),
  alertDlqGrowth: v({
    name: "SLUICE_ALERT_DLQ_GROWTH",
    default: "1",
    parse: int({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    description: "Alert when at least this many jobs of a queue died in the last 10m; default 1",
  }),
  xminHorizonWarnMs: v({
    name: "SLUICE_XMIN_HORIZON_WARN",
    default: "10m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "Warn when the oldest transaction holding back vacuum (xmin) is older than this; 10m",
  }),
  deadTupleRatioWarn: v({
    name: "SLUICE_DEAD_TUPLE_RATIO_WARN",
    default: "0.2",
    parse: ratio,
    description: "Warn when this share of the jobs table's tuples are dead (bloat); default 0.2",
  }),
};

type Spec = VarSpec<unknown>;
type VarKey = keyof typeof VARS;
type Out<S> = S extends VarSpec<infer T> ? T : never;

/** The validated environment. Durations are milliseconds (`…Ms`), sizes bytes (`…Bytes`). */
export type Config = { [K in VarKey]: Out<(typeof VARS)[K]> };
export type ConfigSources = Record<VarKey, ConfigSource>;

const ENTRIES = Object.entries(VARS) as [VarKey, Spec][];

/** The one schema: raw text per field (defaults applied) → `Config`. */
export const envSchema = z.object(
  Object.fromEntries(ENTRIES.map(([key, spec]) => [key, spec.schema])),
) as unknown as z.ZodType<Config, Partial<Record<VarKey, string>>>;

/** Reference metadata for help text and docs. */
export const CONFIG_VARS: readonly {
  name: string;
  key: VarKey;
  description: string;
  secret: boolean;
  /** The default as an operator would write it; `<hostname>-<pid>` style for computed ones. */
  default: string | null;
}[] = ENTRIES.map(([key, spec]) => ({
  name: spec.name,
  key,
  description: spec.description,
  secret: spec.secret,
  default: typeof spec.default === "function" ? null : spec.default,
}));

/** Cross-field rules, checked once every field parsed. */
const CHECKS: ((c: Config) => string | null)[] = [
  (c) =>
    c.backoffBaseMs > c.backoffMaxMs
      ? `SLUICE_BACKOFF_BASE: ${
        quote(showDuration(c.backoffBaseMs))
      } is longer than SLUICE_BACKOFF_MAX (${quote(showDuration(c.backoffMaxMs))})`
      : null,
];

// ---------------------------------------------------------------------------------------------
// Loading

/** Set by Sluice itself in the environment of exec handlers; not configuration. */
const RESERVED = new Set(["SLUICE_JOB_ID", "SLUICE_ATTEMPT"]);
const NAMES = ENTRIES.map(([, spec]) => spec.name);
const KNOWN = new Set(NAMES.flatMap((n) => [n, `${n}_FILE`]));

export interface UnknownVar {
  name: string;
  /** The known name it most likely meant, or null. */
  suggestion: string | null;
}

/** `SLUICE_LEAS is not a Sluice variable (did you mean SLUICE_LEASE?)` */
export function describeUnknown(u: UnknownVar): string {
  return `${u.name} is not a Sluice variable${
    u.suggestion ? ` (did you mean ${u.suggestion}?)` : ""
  }`;
}

export type ConfigResult =
  | {
    ok: true;
    config: Config;
    sources: ConfigSources;
    warnings: string[];
    /** Unrecognized `SLUICE_*` names: a warning for roles, a problem for `config check`. */
    unknown: UnknownVar[];
  }
  | { ok: false; problems: string[]; warnings: string[]; unknown: UnknownVar[] };

/**
 * Validates the whole environment at once and reports every problem, never just the first.
 * Unknown `SLUICE_*` names do not fail the load (a role still starts, with a warning).
 */
export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): ConfigResult {
  const raw: Partial<Record<VarKey, string>> = {};
  const sources = {} as ConfigSources;
  // Problems keyed by table position so the output follows the table order.
  const problems: { at: number; message: string }[] = [];
  const skip = new Set<VarKey>();

  ENTRIES.forEach(([key, spec], at) => {
    const fileName = `${spec.name}_FILE`;
    const direct = env[spec.name];
    const path = env[fileName];
    const hasDirect = direct !== undefined && direct !== "";
    const hasFile = path !== undefined && path !== "";
    if (hasDirect && hasFile) {
      problems.push({ at, message: `${spec.name} and ${fileName} are both set (use one)` });
      skip.add(key);
      return;
    }
    if (hasFile) {
      sources[key] = "file";
      try {
        const content = Deno.readTextFileSync(path).replace(/[\r\n]+$/, "");
        if (content.trim() === "") {
          problems.push({ at, message: `${fileName}: ${quote(path)} is empty` });
          skip.add(key);
        } else raw[key] = content;
      } catch (e) {
        problems.push({ at, message: `${fileName}: cannot read ${quote(path)} (${readError(e)})` });
        skip.add(key);
      }
      return;
    }
    if (hasDirect) {
      sources[key] = "env";
      raw[key] = direct;
      return;
    }
    sources[key] = "default";
    const d = spec.default;
    if (d !== null) raw[key] = typeof d === "function" ? d() : d;
  });

  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0] as VarKey;
      if (skip.has(key)) continue;
      const at = ENTRIES.findIndex(([k]) => k === key);
      problems.push({ at, message: `${VARS[key].name}: ${issue.message}` });
    }
  } else if (problems.length === 0) {
    CHECKS.forEach((check) => {
      const message = check(parsed.data);
      if (message) problems.push({ at: ENTRIES.length, message });
    });
  }

  const unknown = findUnknown(env);
  const warnings = unknown.map(describeUnknown);

  if (problems.length > 0 || !parsed.success) {
    problems.sort((a, b) => a.at - b.at);
    return { ok: false, problems: problems.map((p) => p.message), warnings, unknown };
  }
  return { ok: true, config: parsed.data, sources, warnings, unknown };
}

/** For roles: the config, or a `CONFIG_INVALID` error listing every problem. */
export function requireConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): { config: Config; sources: ConfigSources; warnings: string[] } {
  const result = loadConfig(env);
  if (!result.ok) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `invalid configuration (run 'sluice config check'): ${result.problems.join("; ")}`,
      { problems: result.problems },
    );
  }
  return { config: result.config, sources: result.sources, warnings: result.warnings };
}

function readError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}

function findUnknown(env: Record<string, string | undefined>): UnknownVar[] {
  const out: UnknownVar[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const upper = name.toUpperCase();
    if (!upper.startsWith("SLUICE_") || KNOWN.has(name) || RESERVED.has(name)) continue;
    out.push({ name, suggestion: suggestVar(upper) });
  }
  return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function suggestVar(upper: string): string | null {
  // `SLUICE_DATABASE_URL` is a common guess for `DATABASE_URL`.
  const stripped = upper.slice("SLUICE_".length);
  if (KNOWN.has(stripped)) return stripped;
  return closestName(upper, [...KNOWN]);
}

/**
 * The candidate nearest to `input` by edit distance (a transposition counts as one edit), or
 * null when nothing is close enough to be a plausible typo.
 */
export function closestName(input: string, candidates: readonly string[]): string | null {
  const limit = Math.max(2, Math.floor(input.length / 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(input.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : null;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Describing

export interface ConfigRow {
  name: string;
  /** Human form; secrets redacted. */
  value: string;
  source: ConfigSource;
}

/** One row per variable, in table order, for `config check` and start-up logs. */
export function describeConfig(
  config: Config,
  sources: Partial<ConfigSources> = {},
): ConfigRow[] {
  return ENTRIES.map(([key, spec]) => ({
    name: spec.name,
    value: spec.show(config[key]),
    source: sources[key] ?? "default",
  }));
}
