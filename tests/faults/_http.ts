/**
 * Raw HTTP/1.1 over TCP for the hostile-input suite: `fetch` normalizes paths (`/a/../b`) and
 * refuses CR/LF in header values, so requests that a browser or client library would never send
 * are written byte for byte here.
 */

export interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends `head` (request line + headers, without the final blank line) and `body`; reads all. */
export async function rawRequest(
  base: string,
  head: string,
  body: Uint8Array | string = "",
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Promise<RawResponse> {
  const u = new URL(base);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const text = `${head}\r\nHost: ${u.host}\r\nConnection: close\r\n` +
      (bytes.length ? `Content-Length: ${bytes.length}\r\n` : "") + "\r\n";
    await write(conn, new TextEncoder().encode(text));
    // The server may answer (and close) before reading a large body: that is allowed.
    if (bytes.length) await write(conn, bytes).catch(() => {});
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new TextDecoder().decode(concat(chunks));
    const split = all.indexOf("\r\n\r\n");
    const headers = split < 0 ? all : all.slice(0, split);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1] ?? 0);
    return { status, headers, body: split < 0 ? "" : all.slice(split + 4) };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

async function write(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A response body that leaks internals: a stack frame, an error class name, a file path. */
export function leaksInternals(body: string): string | null {
  const m =
    /\bat (?:file|ext|node):\/\/|\n\s+at \S+ \(|\b(?:Type|Reference|Syntax|Range|Postgres)Error\b|\bError: |\/work\/|node_modules/
      .exec(body);
  return m ? m[0] : null;
}
