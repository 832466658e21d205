import type { Delivery } from "../queue/queues.ts";

/**
 * Delivery targets as shown to whoever may not see their secrets (every scope but admin, job
 * errors, logs). A queue's URL, headers and exec command often carry credentials
 * (`https://user:pass@…`, `?api_key=…`, `Authorization: …`, `handler --token …`); what stays is
 * enough to tell targets apart and to triage: scheme, host, port and path, header names, the
 * program name. Paths are kept: a path that holds a secret (some webhook URLs do) is shown.
 */

const MASK = "***";

/** `scheme://host:port/path` with userinfo, query values and fragment masked. */
export function redactUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return MASK;
  }
  const userinfo = u.username || u.password ? `${MASK}@` : "";
  // From the raw search text so the names keep their spelling; a bare item may be a secret.
  const query = u.search === "" ? "" : `?${
    u.search.slice(1).split("&").map((item) => {
      const eq = item.indexOf("=");
      return eq < 0 ? MASK : `${item.slice(0, eq)}=${MASK}`;
    }).join("&")
  }`;
  const hash = u.hash === "" ? "" : `#${MASK}`;
  return `${u.protocol}//${userinfo}${u.host}${u.pathname}${query}${hash}`;
}

/** Every http(s) URL inside `text` (an error message) redacted. */
export function redactUrlsIn(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s()<>"'`]+/gi, (m) => redactUrl(m));
}

/** The program name and a mask for its arguments (an `A=b` prefix of a shell line is masked). */
export function redactCommand(command: string | string[]): string | string[] {
  if (Array.isArray(command)) {
    const [program = MASK, ...args] = command;
    return args.length === 0 ? [program] : [program, MASK];
  }
  const [program = "", ...rest] = command.trim().split(/\s+/);
  if (program === "" || program.includes("=")) return MASK;
  return rest.length === 0 ? program : `${program} ${MASK}`;
}

/** Header names with their values masked. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(headers).map((name) => [name, MASK]));
}

/** A delivery with its URL, headers and command redacted (other fields as they are). */
export function redactDelivery(d: Delivery): Delivery {
  switch (d.mode) {
    case "http":
      return {
        ...d,
        url: redactUrl(d.url),
        ...(d.headers ? { headers: redactHeaders(d.headers) } : {}),
      };
    case "exec":
      return { ...d, command: redactCommand(d.command) };
    default:
      return d;
  }
}
