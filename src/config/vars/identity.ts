/**
 * Workload identity (OIDC), src/auth/: API callers' ID tokens (SLUICE_OIDC_*), callbacks' ID
 * tokens (SLUICE_CALLBACK_OIDC_*), and the ID tokens Sluice mints for http pushes
 * (SLUICE_PUSH_*). All off by default.
 */
import { duration, invalid, list, longSecret, oneOf, quote, showDuration } from "../parse.ts";
import { v } from "../spec.ts";
import { pushIssuer } from "../../auth/oidc_setup.ts";

/** An http(s) URL given back as written. */
function httpUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return invalid(`${quote(raw)} is not a URL`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    invalid(`${quote(raw)} is not an http(s) URL`);
  }
  return raw;
}

/** An OIDC issuer: an https URL without query or fragment (http only for loopback, tests). */
function issuerUrl(raw: string): string {
  const u = new URL(httpUrl(raw));
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname);
  if (u.protocol === "http:" && !loopback) {
    invalid(`${quote(raw)} must use https:// (http is accepted for loopback only)`);
  }
  if (u.search || u.hash) invalid(`${quote(raw)} must not have a query or fragment`);
  return raw;
}

export const IDENTITY_VARS = {
  oidcIssuer: v({
    name: "SLUICE_OIDC_ISSUER",
    default: null,
    parse: issuerUrl,
    nullLabel: "off",
    description:
      "OIDC issuer whose ID tokens the api accepts (iss; keys by discovery at <issuer>/.well-known/openid-configuration); off by default",
  }),
  oidcJwksUrl: v({
    name: "SLUICE_OIDC_JWKS_URL",
    default: null,
    parse: httpUrl,
    nullLabel: "(discovery)",
    description: "The issuer's JWKS URL, instead of discovery",
  }),
  oidcJwksFile: v({
    name: "SLUICE_OIDC_JWKS_FILE",
    default: null,
    parse: (raw) => raw,
    nullLabel: "(discovery)",
    description:
      "A JWKS file instead of fetching keys (offline/air-gapped); read again every 10m and on an unknown kid, so replacing it rotates",
  }),
  oidcAudience: v({
    name: "SLUICE_OIDC_AUDIENCE",
    default: "",
    parse: list,
    description:
      "Accepted aud of API callers' ID tokens, comma list; with SLUICE_OIDC_ISSUER, ID tokens of granted identities are bearer tokens",
  }),
  oidcClockSkewMs: v({
    name: "SLUICE_OIDC_CLOCK_SKEW",
    default: "60s",
    parse: duration({ max: 600_000 }),
    show: showDuration,
    description:
      "Allowed clock difference for exp, nbf and iat of ID tokens; default 60s, at most 10m",
  }),
  oidcJwksMaxStaleMs: v({
    name: "SLUICE_OIDC_JWKS_MAX_STALE",
    default: "1h",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "How long the last good issuer keys serve while fetching them fails; then 503 JWKS_UNAVAILABLE; default 1h",
  }),
  callbackOidcAudience: v({
    name: "SLUICE_CALLBACK_OIDC_AUDIENCE",
    default: null,
    parse: (raw) => raw,
    nullLabel: "off",
    description:
      "Callbacks may prove their caller with an ID token of SLUICE_OIDC_ISSUER for this aud; off by default",
  }),
  callbackOidcMode: v({
    name: "SLUICE_CALLBACK_OIDC_MODE",
    default: "either",
    parse: oneOf<"either" | "both">(["either", "both"]),
    description:
      "either: an ID token or the webhook signature (each one presented must verify); both: both required; default either",
  }),
  callbackOidcEmails: v({
    name: "SLUICE_CALLBACK_OIDC_EMAILS",
    default: "",
    parse: (raw) => list(raw).map((e) => e.toLowerCase()),
    description:
      "Verified emails a callback's ID token may carry; unset with _SUBJECTS: identities of scope worker or admin",
  }),
  callbackOidcSubjects: v({
    name: "SLUICE_CALLBACK_OIDC_SUBJECTS",
    default: "",
    parse: list,
    description: "Subjects a callback's ID token may carry (see SLUICE_CALLBACK_OIDC_EMAILS)",
  }),
  pushOidcIssuer: v({
    name: "SLUICE_PUSH_OIDC_ISSUER",
    default: null,
    parse: issuerUrl,
    nullLabel: "(http://<SLUICE_API_ADDR>)",
    description:
      "iss of the push ID tokens Sluice mints: the api's public base URL, serving /.well-known/jwks.json",
  }),
  pushKeySecret: v({
    name: "SLUICE_PUSH_KEY_SECRET",
    default: null,
    secret: true,
    parse: longSecret,
    nullLabel: "(none: push signing keys stored unencrypted)",
    description:
      "Encrypts the push signing keys at rest (AES-256-GCM), 32+ chars; unset = stored unencrypted",
  }),
  pushTokenLifetimeMs: v({
    name: "SLUICE_PUSH_TOKEN_LIFETIME",
    default: "5m",
    parse: duration({ min: 10_000, max: 3_600_000 }),
    show: showDuration,
    description: "Lifetime (exp - iat) of push ID tokens; default 5m, 10s to 1h",
  }),
};

type IdentitySettings = {
  pushOidcIssuer: string | null;
  apiAddr: { hostname: string; port: number } | null;
  oidcIssuer: string | null;
  oidcJwksUrl: string | null;
  oidcJwksFile: string | null;
  oidcAudience: readonly string[];
  callbackOidcAudience: string | null;
};

export const IDENTITY_CHECKS: ((c: IdentitySettings) => string | null)[] = [
  (c) =>
    c.oidcIssuer && c.oidcAudience.length === 0 && !c.callbackOidcAudience
      ? "SLUICE_OIDC_ISSUER: set SLUICE_OIDC_AUDIENCE (API callers) or SLUICE_CALLBACK_OIDC_AUDIENCE (callbacks) too"
      : null,
  (c) =>
    !c.oidcIssuer &&
      (c.oidcAudience.length > 0 || c.callbackOidcAudience || c.oidcJwksUrl || c.oidcJwksFile)
      ? "SLUICE_OIDC_AUDIENCE, SLUICE_CALLBACK_OIDC_AUDIENCE and SLUICE_OIDC_JWKS_* need SLUICE_OIDC_ISSUER (the iss tokens must carry)"
      : null,
  // Sluice's own push tokens must never be API or callback credentials: a receiver holding one
  // (aud = itself) could otherwise present it to Sluice.
  (c) =>
    c.oidcIssuer && c.oidcIssuer.replace(/\/$/, "") === pushIssuer(c)
      ? "SLUICE_OIDC_ISSUER is Sluice's own push issuer (SLUICE_PUSH_OIDC_ISSUER): push ID tokens must not be accepted as credentials"
      : null,
  (c) =>
    c.oidcJwksUrl && c.oidcJwksFile
      ? "SLUICE_OIDC_JWKS_URL and SLUICE_OIDC_JWKS_FILE: give one, not both"
      : null,
];
