import { SluiceError } from "../errors.ts";

/**
 * Where http delivery may send: checked when an admin saves a queue's URL and again before
 * every request (a name can start resolving to a denied address after it was saved).
 * Names are resolved with `Deno.resolveDns` (A and AAAA) and every address must be allowed.
 * A check just before `fetch` still leaves a DNS-rebinding window between our lookup and the
 * one fetch makes; closing it needs an egress proxy or firewall, which the README recommends
 * for hostile tenants.
 */

export type Resolve = (host: string) => Promise<string[]>;

/** Parses `http(s)://…`; anything else is VALIDATION_FAILED. */
export function parseDeliveryUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SluiceError("VALIDATION_FAILED", `delivery url '${raw}' is not a URL`, {
      url: raw,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `delivery url '${raw}' must use http:// or https://, not '${url.protocol}'`,
      { url: raw },
    );
  }
  return url;
}

/** Throws DESTINATION_DENIED when the URL's host is, or resolves to, a denied address. */
export async function assertDestinationAllowed(
  rawUrl: string,
  deny: readonly string[],
  resolve: Resolve = resolveHost,
): Promise<void> {
  const url = parseDeliveryUrl(rawUrl);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = parseIp(host) ? [host] : await resolve(host);
  for (const address of addresses) {
    const cidr = deniedBy(address, deny);
    if (cidr) {
      throw new SluiceError(
        "DESTINATION_DENIED",
        `delivery to '${url.origin}' is denied: ${
          address === host ? "" : `'${host}' resolves to `
        }'${address}', inside '${cidr}' of SLUICE_DELIVERY_DENY`,
        { origin: url.origin, address, cidr },
      );
    }
  }
}

/** The first deny CIDR that contains `address`, or null. */
export function deniedBy(address: string, deny: readonly string[]): string | null {
  const ip = parseIp(address);
  if (!ip) return null;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host: check both forms.
  const forms = [ip];
  if (ip.v === 6 && ip.n >> 32n === 0xffffn) forms.push({ v: 4, n: ip.n & 0xffffffffn });
  for (const cidr of deny) {
    const [base = "", prefixText] = cidr.split("/");
    const net = parseIp(base);
    if (!net) continue;
    const bits = net.v === 4 ? 32 : 128;
    const prefix = BigInt(prefixText === undefined ? bits : Number(prefixText));
    const shift = BigInt(bits) - prefix;
    for (const f of forms) {
      if (f.v === net.v && f.n >> shift === net.n >> shift) return cidr;
    }
  }
  return null;
}

interface Ip {
  v: 4 | 6;
  n: bigint;
}

export function parseIp(text: string): Ip | null {
  const v4 = parseV4(text);
  if (v4 !== null) return { v: 4, n: v4 };
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let head = text;
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups written in IPv4 form.
  const dot = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dot) {
    const q = parseV4(dot[1]!);
    if (q === null) return null;
    head = `${text.slice(0, dot.index + 1)}${(q >> 16n).toString(16)}:${
      (q & 0xffffn).toString(16)
    }`;
  }
  const parts = head.split("::");
  if (parts.length > 2) return null;
  const group = (s: string) => s === "" ? [] : s.split(":");
  const left = group(parts[0]!), right = parts.length === 2 ? group(parts[1]!) : [];
  const total = left.length + right.length;
  if (parts.length === 1 ? total !== 8 : total > 7) return null;
  const groups = [...left, ...Array(8 - total).fill("0"), ...right];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return { v: 6, n };
}

function parseV4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return null;
  }
  return parts.reduce((n, p) => (n << 8n) | BigInt(Number(p)), 0n);
}

/**
 * A and AAAA records of `host`. `localhost` is answered locally (it is in /etc/hosts, not in
 * DNS). A name that does not resolve yields no addresses: the request will fail on its own.
 */
export async function resolveHost(host: string): Promise<string[]> {
  if (host === "localhost" || host.endsWith(".localhost")) return ["127.0.0.1", "::1"];
  const [a, aaaa] = await Promise.allSettled([
    Deno.resolveDns(host, "A"),
    Deno.resolveDns(host, "AAAA"),
  ]);
  return [
    ...(a.status === "fulfilled" ? a.value : []),
    ...(aaaa.status === "fulfilled" ? aaaa.value : []),
  ];
}

/**
 * `resolveHost` with a short cache, for the send path: at thousands of pushes per second a
 * lookup per request would cost more than the request. 10 s bounds how stale a check can be.
 */
export function cachedResolver(ttlMs = 10_000, resolve: Resolve = resolveHost): Resolve {
  const cache = new Map<string, { at: number; addresses: Promise<string[]> }>();
  return (host) => {
    const hit = cache.get(host);
    if (hit && Date.now() - hit.at < ttlMs) return hit.addresses;
    const addresses = resolve(host);
    cache.set(host, { at: Date.now(), addresses });
    addresses.catch(() => cache.delete(host));
    return addresses;
  };
}
