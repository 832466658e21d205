/** The count of refused OIDC ID tokens, shared by API authentication and callbacks. */
import type { Counter, Registry } from "../obs/metrics.ts";

export const REFUSAL_CODES = [
  "TOKEN_MALFORMED",
  "TOKEN_EXPIRED",
  "TOKEN_NOT_YET_VALID",
  "AUDIENCE_MISMATCH",
  "ISSUER_MISMATCH",
  "ALGORITHM_NOT_ALLOWED",
  "SIGNATURE_INVALID",
  "EMAIL_NOT_VERIFIED",
  "IDENTITY_NOT_ALLOWED",
  "JWKS_UNAVAILABLE",
] as const;

/**
 * `sluice_id_token_refusals_total{use,code}` (use: api or callback), every code from the start
 * at 0 so `rate()` works before the first refusal.
 */
export function idTokenRefusals(registry: Registry, use: "api" | "callback"): Counter {
  const c = registry.counter(
    "sluice_id_token_refusals_total",
    "OIDC ID tokens refused, by use (api, callback) and error code (TOKEN_EXPIRED, AUDIENCE_MISMATCH, IDENTITY_NOT_ALLOWED, …)",
    ["use", "code"],
  );
  for (const code of REFUSAL_CODES) c.inc({ use, code }, 0);
  return c;
}
