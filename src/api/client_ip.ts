/**
 * The caller's address as the api sees it, for logs, rate limits and the health allowlist: the
 * socket's remote address, or, when that peer is a reverse proxy in `SLUICE_TRUSTED_PROXIES`,
 * the address its `X-Forwarded-For` names.
 *
 * `X-Forwarded-For` is read right to left: each trusted proxy appends the address it received
 * from, so the rightmost entry that is not itself a trusted proxy is the client. Anything to its
 * left was written by that client and proves nothing (a brute-forcer would rotate it to dodge the
 * failed-auth limiter). With no trusted proxies (the default) the header is ignored entirely.
 */
import type { Context } from "hono";
import { getConnInfo } from "hono/deno";
import { ipInCidrs, isIpAddress } from "./_cidr.ts";

export interface ClientIpDeps {
  config: { trustedProxies: readonly string[] };
  /** The peer's address (tests pass a fixed value); default: the socket's remote address. */
  clientIp?: (c: Context) => string | null;
}

/** The socket peer's address, or "unknown" when the transport does not say (app.request()). */
export function peerIp(c: Context, deps: Pick<ClientIpDeps, "clientIp">): string {
  if (deps.clientIp) return deps.clientIp(c) ?? "unknown";
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** The client's address: the peer's, or the one a trusted proxy forwarded for. */
export function clientIp(c: Context, deps: ClientIpDeps): string {
  let ip = peerIp(c, deps);
  const trusted = deps.config.trustedProxies;
  if (trusted.length === 0 || !ipInCidrs(ip, trusted)) return ip;
  const hops = (c.req.header("x-forwarded-for") ?? "").split(",").map((s) => s.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    // A malformed entry ends the trusted chain: the last good address is as far as we can see.
    if (!isIpAddress(hop)) break;
    ip = hop;
    if (!ipInCidrs(hop, trusted)) break;
  }
  return ip;
}
