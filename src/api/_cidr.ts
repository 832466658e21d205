/** Whether an address falls in one of the CIDRs (`10.0.0.0/8`, `fd00::/8`); IPv4-mapped v6 too. */
export function ipInCidrs(ip: string, cidrs: readonly string[]): boolean {
  const addr = toBits(ip);
  if (!addr) return false;
  return cidrs.some((cidr) => {
    const [base = "", prefix = ""] = cidr.split("/");
    const net = toBits(base);
    if (!net || net.width !== addr.width) return false;
    const shift = BigInt(net.width - Number(prefix));
    return (addr.value >> shift) === (net.value >> shift);
  });
}

/** Whether the text is an IPv4 or IPv6 address (brackets allowed, no port). */
export function isIpAddress(text: string): boolean {
  return toBits(text) !== null;
}

function toBits(ip: string): { value: bigint; width: 32 | 128 } | null {
  const text = ip.trim().toLowerCase().replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (mapped) return toBits(mapped[1]!);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return null;
    return { value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n), width: 32 };
  }
  if (!text.includes(":")) return null;
  const [head = "", tail, extra] = text.split("::");
  if (extra !== undefined) return null;
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? h.length !== 8 : missing < 1) return null;
  const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill("0"), ...t];
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return {
    value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n),
    width: 128,
  };
}

/** Loopback names and addresses: what "closed by default" allows without an admin token. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || ipInCidrs(hostname, ["127.0.0.0/8", "::1/128"]);
}
