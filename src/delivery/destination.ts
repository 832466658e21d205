import type { Config } from "../config/vars.ts";
import { BUILTIN_DELIVERY_DENY } from "../config/vars/delivery.ts";
import { SluiceError } from "../errors.ts";

/**
 * Where http delivery may send: checked when an admin saves a queue's URL and again when the
 * worker connects (a name can start resolving to a denied address after it was saved).
 * Names are resolved here (/etc/hosts, then `Deno.resolveDns` A and AAAA) and every address must
 * be allowed; the worker then connects to one of those very addresses (src/delivery/egress.ts),
 * never to a second lookup's answer, so DNS rebinding between check and connect cannot happen.
 *
 * An address is checked in every form it reaches, so spellings cannot slip past a CIDR:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4
 * (2002:aabb:ccdd::) also count as their IPv4 address, and the unspecified addresses (0.0.0.0/8,
 * ::) as loopback, which is what a connection to them reaches on Linux. Decimal, octal and hex
 * IPv4 (http://2130706433/, http://0x7f.1/) need nothing here: WHATWG URL parsing already turns
 * them into 127.0.0.1.
 */

export type Resolve = (host: string) => Promise<string[]>;

/** The deny list and the exceptions to it (`SLUICE_DELIVERY_DENY`, `SLUICE_DELIVERY_ALLOW`). */
export interface DestinationRules {
  deny: readonly string[];
  /** Opens addresses of `deny`, except the built-in link-local and metadata ranges. */
  allow?: readonly string[];
}

export function destinationRules(c: Pick<Config, "deliveryDeny" | "deliveryAllow">) {
  return { deny: c.deliveryDeny, allow: c.deliveryAllow } satisfies DestinationRules;
}

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

/** A URL's host as a resolver or `Deno.connect` takes it: no brackets, no trailing dot. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
}

export interface HostVerdict {
  /** Every address the host resolves to (empty: it does not resolve). */
  addresses: string[];
  /** The first denied address and the CIDR that denies it, or null when all are allowed. */
  denied: { address: string; cidr: string } | null;
}

/**
 * Resolves `host` and checks every address. An IP literal is its own answer; `localhost` and
 * its subdomains are loopback whatever a resolver says (RFC 6761).
 */
export async function checkHost(
  host: string,
  rules: DestinationRules,
  resolve: Resolve = resolveHost,
): Promise<HostVerdict> {
  const name = host.replace(/\.$/, "").toLowerCase();
  const addresses = parseIp(name)
    ? [name]
    : name === "localhost" || name.endsWith(".localhost")
    ? ["127.0.0.1", "::1"]
    : await resolve(name);
  for (const address of addresses) {
    const cidr = deniedBy(address, rules);
    if (cidr) return { addresses, denied: { address, cidr } };
  }
  return { addresses, denied: null };
}

/** The DESTINATION_DENIED error for a verdict with a denied address. */
export function destinationDenied(url: URL, v: HostVerdict): SluiceError {
  const { address, cidr } = v.denied!;
  const host = hostOf(url);
  return new SluiceError(
    "DESTINATION_DENIED",
    `delivery to '${url.origin}' is denied: ${
      address === host ? "" : `'${host}' resolves to `
    }'${address}', inside '${cidr}' of the delivery deny list (SLUICE_DELIVERY_DENY, SLUICE_DELIVERY_ALLOW)`,
    { origin: url.origin, address, cidr },
  );
}

/**
 * Throws DESTINATION_DENIED when the URL's host is, or resolves to, a denied address; returns
 * the addresses it resolves to.
 */
export async function assertDestinationAllowed(
  rawUrl: string,
  rules: DestinationRules,
  resolve: Resolve = resolveHost,
): Promise<string[]> {
  const url = parseDeliveryUrl(rawUrl);
  const verdict = await checkHost(hostOf(url), rules, resolve);
  if (verdict.denied) throw destinationDenied(url, verdict);
  return verdict.addresses;
}

/**
 * The CIDR that denies `address` in any form it reaches, or null. The built-in link-local and
 * metadata ranges deny whatever `allow` says; other deny entries yield to `allow`.
 */
export function deniedBy(address: string, rules: DestinationRules): string | null {
  const ip = parseIp(address);
  if (!ip) return null;
  for (const form of reachedForms(ip)) {
    const builtin = firstContaining(form, BUILTIN_DELIVERY_DENY);
    if (builtin) return builtin;
    const cidr = firstContaining(form, rules.deny);
    if (cidr && !firstContaining(form, rules.allow ?? [])) return cidr;
  }
  return null;
}

/**
 * A loopback address http delivery may reach under `rules` (SLUICE_DELIVERY_ALLOW opened one),
 * or null: what `sluice config check` warns about when the API listens beyond loopback.
 */
export function reachableLoopback(rules: DestinationRules): string | null {
  const bases = (rules.allow ?? []).map((cidr) => cidr.split("/")[0] ?? "");
  const loopback = { deny: ["127.0.0.0/8", "::1/128"] };
  return ["127.0.0.1", "::1", ...bases].find((a) =>
    deniedBy(a, loopback) !== null && deniedBy(a, rules) === null
  ) ?? null;
}

interface Ip {
  v: 4 | 6;
  n: bigint;
}

const V4_LOOPBACK: Ip = { v: 4, n: 0x7f000001n };
const V6_LOOPBACK: Ip = { v: 6, n: 1n };

/** `ip` and every address a connection to it reaches (see the module comment). */
function reachedForms(ip: Ip): Ip[] {
  const forms = [ip];
  const v4 = (n: bigint): Ip => ({ v: 4, n: n & 0xffffffffn });
  if (ip.v === 6) {
    const high = ip.n >> 32n;
    if (high === 0xffffn || (high === 0n && ip.n > 1n)) forms.push(v4(ip.n)); // mapped, compat
    if (ip.n >> 32n === 0x0064ff9b0000000000000000n) forms.push(v4(ip.n)); // NAT64 64:ff9b::/96
    if (ip.n >> 112n === 0x2002n) forms.push(v4(ip.n >> 80n)); // 6to4 2002::/16
  }
  for (const f of [...forms]) {
    if (f.v === 4 && f.n >> 24n === 0n) forms.push(V4_LOOPBACK); // 0.0.0.0/8
    if (f.v === 6 && f.n === 0n) forms.push(V6_LOOPBACK); // ::
  }
  return forms;
}

function firstContaining(ip: Ip, cidrs: readonly string[]): string | null {
  for (const cidr of cidrs) {
    const [base = "", prefixText] = cidr.split("/");
    const net = parseIp(base);
    if (!net || net.v !== ip.v) continue;
    const bits = net.v === 4 ? 32 : 128;
    const shift = BigInt(bits - (prefixText === undefined ? bits : Number(prefixText)));
    if (ip.n >> shift === net.n >> shift) return cidr;
  }
  return null;
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
 * Addresses of `name`: /etc/hosts (which `Deno.resolveDns` does not read, but a system lookup
 * would), then A and AAAA records. A name that does not resolve yields no addresses (the send
 * then fails as HTTP_CONNECTION).
 */
export async function resolveHost(name: string): Promise<string[]> {
  const listed = hostsFileLookup(await readHostsFile(), name);
  if (listed.length > 0) return listed;
  const [a, aaaa] = await Promise.allSettled([
    Deno.resolveDns(name, "A"),
    Deno.resolveDns(name, "AAAA"),
  ]);
  return [
    ...(a.status === "fulfilled" ? a.value : []),
    ...(aaaa.status === "fulfilled" ? aaaa.value : []),
  ];
}

async function readHostsFile(): Promise<string> {
  try {
    return await Deno.readTextFile("/etc/hosts");
  } catch {
    return ""; // no such file, or no --allow-read: DNS alone
  }
}

/** The addresses /etc/hosts text gives `name` (`address name alias…` lines, `#` comments). */
export function hostsFileLookup(text: string, name: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (address && parseIp(address) && names.some((n) => n.toLowerCase() === name)) {
      out.push(address);
    }
  }
  return out;
}

/**
 * `checkHost` with a short cache, for the send path: at thousands of pushes per second a lookup
 * and a check per request would cost more than the request. 10 s bounds how stale a verdict
 * can be; a stale verdict only ever sends to an address that was itself checked.
 */
export function cachedHostCheck(
  rules: DestinationRules,
  resolve: Resolve = resolveHost,
  ttlMs = 10_000,
): (host: string) => Promise<HostVerdict> {
  const cache = new Map<string, { at: number; verdict: Promise<HostVerdict> }>();
  return (host) => {
    const hit = cache.get(host);
    if (hit && Date.now() - hit.at < ttlMs) return hit.verdict;
    const verdict = checkHost(host, rules, resolve);
    if (cache.size > 1_000) cache.clear();
    cache.set(host, { at: Date.now(), verdict });
    verdict.catch(() => cache.delete(host));
    return verdict;
  };
}
