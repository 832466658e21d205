import { timingSafeEqual } from "node:crypto";
import {
  cachedHostCheck,
  destinationDenied,
  type DestinationRules,
  hostOf,
  type HostVerdict,
  type Resolve,
} from "./destination.ts";

/**
 * Outbound connections for http delivery that go only to checked addresses.
 *
 * `fetch` would resolve the name again when it connects, so a check beforehand leaves a
 * DNS-rebinding window (answer a public address to our lookup, 127.0.0.1 to fetch's). Here the
 * connection itself goes to an address we resolved and checked:
 * - `http://`: a client per address whose transport is a TCP socket to that address
 *   (`Deno.createHttpClient` proxy `{transport: "tcp"}`); the request line and `Host` header
 *   still carry the URL's name, so virtual hosts work.
 * - `https://`: that transport speaks plain TCP (no TLS), so https goes through a CONNECT tunnel
 *   in this process, on a loopback port with a random password: fetch sends `CONNECT host:port`,
 *   the tunnel checks the host and connects to a checked address, and fetch runs TLS through it
 *   with the URL's name for SNI and certificate checks, as a direct connection would.
 * Pooled connections stay with the address they were opened to. Environment proxies
 * (HTTPS_PROXY) are not used for delivery: the check must see the real destination.
 */
export interface Egress {
  /** The host's verdict (cached for 10 s); throws DESTINATION_DENIED for a denied address. */
  check(url: URL): Promise<string[]>;
  /** `fetch` connecting only to checked addresses; DESTINATION_DENIED before any connection. */
  fetch(url: URL, init: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** Clients kept per address before old ones are closed (once idle). */
const MAX_CLIENTS = 256;
const MAX_CONNECT_HEAD = 8_192;

export interface EgressOptions {
  resolve?: Resolve;
  /** Extra root certificates (PEM) for https receivers; tests use a private CA. */
  caCerts?: string[];
}

export function createEgress(rules: DestinationRules, opts: EgressOptions = {}): Egress {
  const verdictOf = cachedHostCheck(rules, opts.resolve);
  const clients = new ClientPool();
  let tunnel: Tunnel | null = null;

  const addressesOf = async (url: URL): Promise<string[]> => {
    const verdict: HostVerdict = await verdictOf(hostOf(url));
    if (verdict.denied) throw destinationDenied(url, verdict);
    return verdict.addresses;
  };

  return {
    check: addressesOf,
    async fetch(url, init) {
      const addresses = await addressesOf(url);
      const address = addresses[0];
      if (address === undefined) {
        throw new TypeError(`'${hostOf(url)}' does not resolve (no A or AAAA record)`);
      }
      if (url.protocol === "https:") {
        tunnel ??= new Tunnel(async (host) => {
          const v = await verdictOf(host);
          return v.denied ? undefined : v.addresses[0];
        }, opts.caCerts);
        return await fetch(url, { ...init, client: tunnel.client });
      }
      const port = Number(url.port || 80);
      return await clients.use(
        `${address}|${port}`,
        () => Deno.createHttpClient({ proxy: { transport: "tcp", hostname: address, port } }),
        (client) => fetch(url, { ...init, client }),
      );
    },
    async close() {
      clients.closeAll();
      await tunnel?.close();
      tunnel = null;
    },
  };
}

/** HTTP clients by key, closed when evicted only after their requests finish. */
class ClientPool {
  #clients = new Map<string, { client: Deno.HttpClient; inFlight: number; evicted: boolean }>();

  async use<T>(
    key: string,
    create: () => Deno.HttpClient,
    fn: (client: Deno.HttpClient) => Promise<T>,
  ): Promise<T> {
    let entry = this.#clients.get(key);
    if (!entry) {
      if (this.#clients.size >= MAX_CLIENTS) this.#evict(this.#clients.keys().next().value!);
      entry = { client: create(), inFlight: 0, evicted: false };
      this.#clients.set(key, entry);
    }
    entry.inFlight++;
    try {
      return await fn(entry.client);
    } finally {
      entry.inFlight--;
      if (entry.evicted && entry.inFlight === 0) entry.client.close();
    }
  }

  #evict(key: string) {
    const entry = this.#clients.get(key)!;
    this.#clients.delete(key);
    entry.evicted = true;
    if (entry.inFlight === 0) entry.client.close();
  }

  closeAll() {
    for (const key of [...this.#clients.keys()]) this.#evict(key);
  }
}

/** The loopback CONNECT tunnel for https (see the module comment). */
class Tunnel {
  #password = crypto.randomUUID();
  #listener: Deno.TcpListener;
  #client: Deno.HttpClient;
  #conns = new Set<Deno.Conn>();
  #done: Promise<void>;

  constructor(pick: (host: string) => Promise<string | undefined>, caCerts?: string[]) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    // A worker that only pushes must still be able to exit: the tunnel holds nothing open.
    this.#listener.unref();
    this.#client = Deno.createHttpClient({
      ...(caCerts ? { caCerts } : {}),
      proxy: {
        url: `http://127.0.0.1:${this.#listener.addr.port}`,
        basicAuth: { username: "sluice", password: this.#password },
      },
    });
    this.#done = this.#accept(pick);
  }

  get client(): Deno.HttpClient {
    return this.#client;
  }

  async #accept(pick: (host: string) => Promise<string | undefined>) {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        void this.#serve(conn, pick).finally(() => this.#conns.delete(conn));
      }
    } catch {
      // closed
    }
  }

  async #serve(conn: Deno.Conn, pick: (host: string) => Promise<string | undefined>) {
    let upstream: Deno.Conn | null = null;
    try {
      const head = await readHead(conn);
      const target = head && parseConnect(head, this.#password);
      const address = target ? await pick(target.host) : undefined;
      if (!target || address === undefined) {
        await conn.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\n\r\n"));
        return;
      }
      try {
        upstream = await Deno.connect({ hostname: address, port: target.port });
      } catch {
        await conn.write(new TextEncoder().encode("HTTP/1.1 502 Bad Gateway\r\n\r\n"));
        return;
      }
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
      await Promise.allSettled([
        conn.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(conn.writable),
      ]);
    } catch {
      // A reset on either side ends the tunnel; fetch reports the failure to its caller.
    } finally {
      for (const c of [conn, upstream]) {
        try {
          c?.close();
        } catch { /* already closed by pipeTo */ }
      }
    }
  }

  async close() {
    this.#client.close();
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await this.#done;
  }
}

/** Bytes up to the blank line ending a request head, or null (too long, or closed early). */
async function readHead(conn: Deno.Conn): Promise<string | null> {
  const buf = new Uint8Array(MAX_CONNECT_HEAD);
  let n = 0;
  while (n < buf.length) {
    const r = await conn.read(buf.subarray(n));
    if (r === null) return null;
    n += r;
    const text = new TextDecoder().decode(buf.subarray(0, n));
    // fetch sends nothing after the head until we answer, so the head is all there is.
    if (text.includes("\r\n\r\n")) return text;
  }
  return null;
}

/** `CONNECT host:port` with our password, or null. */
function parseConnect(head: string, password: string): { host: string; port: number } | null {
  const [line = "", ...fields] = head.split("\r\n");
  const m = /^CONNECT (\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d{1,5}) HTTP\/1\.[01]$/.exec(line);
  if (!m) return null;
  const auth = fields.find((f) => /^proxy-authorization:/i.test(f))?.replace(/^[^:]*:\s*/, "");
  const given = new TextEncoder().encode(auth ?? "");
  const expected = new TextEncoder().encode(`Basic ${btoa(`sluice:${password}`)}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return { host: hostOf(new URL(`http://${m[1]}`)), port: Number(m[2]) };
}
