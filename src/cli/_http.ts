/**
 * A small HTTP client for the commands that talk to a running deployment over its API
 * (`sluice verify`, `sluice smoke`) rather than to the database: a base URL, an optional bearer
 * token, a timeout per request, and answers that never throw for an HTTP status.
 */
import { UsageError } from "./_command.ts";

export interface HttpTarget {
  /** `http(s)://host:port`, no trailing slash. */
  base: string;
  token: string | null;
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  /** The parsed JSON body, or null when the body is not JSON. */
  json: unknown;
  text: string;
  ms: number;
}

/** A `--api`/`--worker` value as a base URL; `host:port` alone means http. */
export function baseUrlFlag(name: string, value: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--${name}: "${value}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--${name}: "${value}" must be an http or https URL`);
  }
  return url.href.replace(/\/+$/, "");
}

/** `--token` or `--token-file` (the file keeps the token out of `ps` and shell history). */
export async function tokenFlags(
  token: string | undefined,
  tokenFile: string | undefined,
): Promise<string | null> {
  if (token !== undefined && tokenFile !== undefined) {
    throw new UsageError("give --token or --token-file, not both");
  }
  if (tokenFile !== undefined) {
    try {
      return (await Deno.readTextFile(tokenFile)).trim();
    } catch (e) {
      throw new UsageError(`--token-file: cannot read "${tokenFile}": ${(e as Error).message}`);
    }
  }
  return token ?? null;
}

/**
 * One request. Network failures and timeouts throw an `Error` whose message says what happened
 * (`connection refused`, `no answer within 5s`); any HTTP status is an answer.
 */
export async function httpRequest(
  t: HttpTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (t.token) headers.authorization = `Bearer ${t.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const t0 = performance.now();
  let res: Response;
  try {
    res = await fetch(`${t.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(t.timeoutMs),
    });
  } catch (e) {
    const err = e as Error;
    if (err.name === "TimeoutError") {
      throw new Error(`no answer within ${t.timeoutMs / 1000}s`);
    }
    throw new Error(shortNetworkError(err));
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: a plain-text answer such as Prometheus exposition */ }
  return { status: res.status, json, text, ms: Math.round(performance.now() - t0) };
}

/** `{"error":{"code","message"}}` of an API answer as `CODE: message`, else `HTTP <status>`. */
export function describeAnswer(a: HttpAnswer): string {
  const err = (a.json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (err && typeof err.code === "string") {
    return `HTTP ${a.status} ${err.code}: ${String(err.message ?? "")}`.trimEnd();
  }
  const snippet = a.text.trim().slice(0, 120);
  return snippet ? `HTTP ${a.status}: ${snippet}` : `HTTP ${a.status}`;
}

/** Deno's fetch says "fetch failed" and keeps the reason in `cause`. */
function shortNetworkError(e: Error): string {
  const cause = (e as { cause?: unknown }).cause;
  const m = cause instanceof Error ? cause.message : e.message;
  if (/refused/i.test(m)) return "connection refused";
  if (/dns|lookup|name or service/i.test(m)) return `cannot resolve host (${m})`;
  return m.split("\n")[0] ?? m;
}
