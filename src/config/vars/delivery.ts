/**
 * Outbound http delivery: where it may connect (deny/allow lists), webhook signing, circuit
 * breakers per origin.
 *
 * `SLUICE_DELIVERY_DENY` adds to the default deny list (loopback, unspecified, link-local, cloud
 * metadata); `SLUICE_DELIVERY_ALLOW` opens exceptions (e.g. `127.0.0.1/32` for a receiver on the
 * same host) but never link-local or metadata, so a typo can never open the cloud metadata
 * address to webhook delivery.
 */
import { cidrList, duration, int, Invalid, invalid, quote, showDuration } from "../parse.ts";
import { redactLength, v } from "../spec.ts";

/** Always denied for http delivery (SLUICE_DELIVERY_ALLOW cannot open them): link-local and cloud metadata. */
export const BUILTIN_DELIVERY_DENY: readonly string[] = [
  "169.254.0.0/16",
  "fd00:ec2::254/128",
  "100.100.100.200/32",
  "fe80::/10",
];

/**
 * Denied by default, opened only by SLUICE_DELIVERY_ALLOW: this host (loopback, and the
 * unspecified addresses that reach it). A queue URL is an admin's choice, but whoever holds an
 * admin token should not thereby reach every service bound to 127.0.0.1 and read its answers.
 */
export const LOCAL_DELIVERY_DENY: readonly string[] = [
  "127.0.0.0/8",
  "::1/128",
  "0.0.0.0/8",
  "::/128",
];

function signingSecrets(raw: string): string[] {
  // Split on commas only: base64 never contains one, and spaces could be part of a secret.
  const secrets = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const bad: string[] = [];
  secrets.forEach((secret, i) => {
    const which = `secret ${i + 1} of ${secrets.length}`;
    if (secret.startsWith("whsec_")) {
      let bytes = 0;
      try {
        bytes = atob(secret.slice("whsec_".length)).length;
      } catch {
        bad.push(`${which} starts with "whsec_" but the rest is not base64`);
        return;
      }
      if (bytes < 16) bad.push(`${which} decodes to ${bytes} bytes (at least 16)`);
    } else if (secret.length < 16) {
      bad.push(
        `${which} is ${secret.length} characters (at least 16, or whsec_ followed by base64)`,
      );
    }
  });
  if (bad.length > 0) throw new Invalid(bad);
  return secrets;
}

export const DELIVERY_VARS = {
  signingSecrets: v({
    name: "SLUICE_SIGNING_SECRETS",
    default: "",
    secret: true,
    parse: signingSecrets,
    redact: (s) => s.length === 0 ? "(none)" : redactLength(s),
    description:
      "Webhook signing secrets, comma list, each 16+ chars or whsec_<base64>; the first signs, all verify",
  }),
  signatureToleranceMs: v({
    name: "SLUICE_SIGNATURE_TOLERANCE",
    default: "5m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description: "How far a signed callback's timestamp may be from now, either way; default 5m",
  }),
  deliveryDeny: v({
    name: "SLUICE_DELIVERY_DENY",
    default: "",
    parse: (raw) => [
      ...new Set([...BUILTIN_DELIVERY_DENY, ...LOCAL_DELIVERY_DENY, ...cidrList(raw)]),
    ],
    description:
      "Extra CIDRs http delivery may not reach, added to loopback, unspecified, link-local and cloud metadata",
  }),
  deliveryAllow: v({
    name: "SLUICE_DELIVERY_ALLOW",
    default: "",
    parse: cidrList,
    description:
      "CIDRs http delivery may reach despite the deny list (e.g. 127.0.0.1/32); never link-local or metadata",
  }),
  circuitFailures: v({
    name: "SLUICE_CIRCUIT_FAILURES",
    default: "5",
    parse: int({ min: 1, max: 1_000_000 }),
    description: "Consecutive failures to one http origin that open its circuit; default 5",
  }),
  circuitFailureRatio: v({
    name: "SLUICE_CIRCUIT_FAILURE_RATIO",
    default: "0.5",
    parse: (raw) => {
      const n = Number(raw.trim());
      if (!(n > 0 && n <= 1)) invalid(`${quote(raw)} is not a ratio above 0 and at most 1`);
      return n;
    },
    description:
      "Failure ratio within SLUICE_CIRCUIT_WINDOW (after 20+ requests) that opens a circuit; 0.5",
  }),
  circuitWindowMs: v({
    name: "SLUICE_CIRCUIT_WINDOW",
    default: "1m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description: "Window over which an http origin's failure ratio is counted; default 1m",
  }),
  circuitCooldownMs: v({
    name: "SLUICE_CIRCUIT_COOLDOWN",
    default: "30s",
    parse: duration({ min: 100 }),
    show: showDuration,
    description: "How long an open circuit defers jobs before one probe is sent; default 30s",
  }),
};
