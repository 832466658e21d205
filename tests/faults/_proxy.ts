/**
 * A TCP proxy on 127.0.0.1 in front of PostgreSQL's unix socket, to cut a role off the
 * database without touching the server: `blackhole()` stops forwarding in both directions
 * (connections stay open, bytes are held: what a dropped route or a stuck firewall looks like),
 * `cut()` closes every connection (what the peer sees when the route comes back after the
 * server gave up on it), `restore()` forwards again.
 */
export class PgProxy {
  readonly #listener: Deno.TcpListener;
  readonly #target: string;
  readonly #conns = new Set<Deno.Conn>();
  #holes: (() => void)[] = [];
  #blackholed = false;
  #closed = false;

  constructor(socketPath: string) {
    this.#target = socketPath;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    void this.#accept();
  }

  /** A unix socket path `<dir>/.s.PGSQL.<port>` from a libpq-style URL (`?host=/dir`). */
  static socketOf(url: string): string {
    const u = new URL(url);
    return `${u.searchParams.get("host")}/.s.PGSQL.${u.port || 5432}`;
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  /** `url` rewritten to go through the proxy over TCP. */
  urlFor(url: string): string {
    const u = new URL(url);
    u.searchParams.delete("host");
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  blackhole(): void {
    this.#blackholed = true;
  }

  restore(): void {
    this.#blackholed = false;
    const holes = this.#holes;
    this.#holes = [];
    for (const h of holes) h();
  }

  cut(): void {
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    this.#conns.clear();
  }

  get connections(): number {
    return this.#conns.size;
  }

  close(): void {
    this.#closed = true;
    this.restore();
    this.cut();
    try {
      this.#listener.close();
    } catch { /* closed */ }
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return;
      }
      if (this.#closed) return client.close();
      void this.#serve(client);
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    let server: Deno.Conn;
    try {
      server = await Deno.connect({ transport: "unix", path: this.#target });
    } catch {
      client.close();
      return;
    }
    this.#conns.add(client).add(server);
    const close = () => {
      for (const c of [client, server]) {
        this.#conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      }
    };
    await Promise.race([this.#pipe(client, server), this.#pipe(server, client)]);
    close();
  }

  async #pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) return;
        while (this.#blackholed) await new Promise<void>((r) => this.#holes.push(r));
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      return;
    }
  }
}
