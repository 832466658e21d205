/** A port on 127.0.0.1 nothing listens on right now (the OS picks it; closed before return). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
