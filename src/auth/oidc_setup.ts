/**
 * The OIDC verifiers a role needs, built from the configuration: one key cache for the issuer
 * (SLUICE_OIDC_ISSUER), shared by the API callers' verifier (SLUICE_OIDC_AUDIENCE) and the
 * callbacks' (SLUICE_CALLBACK_OIDC_AUDIENCE), so both see a rotation at the same moment.
 */
import type { Logger } from "../obs/log.ts";
import { JwksCache, type JwksCacheOptions, type JwksSource } from "./jwks_cache.ts";
import { OidcVerifier } from "./oidc_verifier.ts";

/** The SLUICE_OIDC_* settings (src/config.ts); its own shape, as the engine layer reads no config. */
export interface OidcConfig {
  oidcIssuer: string | null;
  oidcJwksUrl: string | null;
  oidcJwksFile: string | null;
  oidcAudience: readonly string[];
  oidcClockSkewMs: number;
  oidcJwksMaxStaleMs: number;
  callbackOidcAudience: string | null;
}

export interface OidcVerifiers {
  jwks: JwksCache;
  /** API callers; null when SLUICE_OIDC_AUDIENCE is empty. */
  api: OidcVerifier | null;
  /** Callbacks; null when SLUICE_CALLBACK_OIDC_AUDIENCE is unset. */
  callback: OidcVerifier | null;
}

/** Null when SLUICE_OIDC_ISSUER is unset (ID tokens are then not accepted anywhere). */
export function oidcVerifiers(
  c: OidcConfig,
  log: Logger,
  jwksOptions: Partial<JwksCacheOptions> = {},
): OidcVerifiers | null {
  if (!c.oidcIssuer) return null;
  const source: JwksSource = c.oidcJwksFile
    ? { kind: "file", path: c.oidcJwksFile }
    : c.oidcJwksUrl
    ? { kind: "url", url: c.oidcJwksUrl }
    : { kind: "discovery", issuer: c.oidcIssuer };
  const jwks = new JwksCache(source, { log, maxStaleMs: c.oidcJwksMaxStaleMs, ...jwksOptions });
  const verifier = (audiences: readonly string[]) =>
    new OidcVerifier({ issuer: c.oidcIssuer!, audiences, clockSkewMs: c.oidcClockSkewMs, jwks });
  return {
    jwks,
    api: c.oidcAudience.length > 0 ? verifier(c.oidcAudience) : null,
    callback: c.callbackOidcAudience ? verifier([c.callbackOidcAudience]) : null,
  };
}

/** The `iss` of push ID tokens: SLUICE_PUSH_OIDC_ISSUER, else the api's own address. */
export function pushIssuer(
  c: { pushOidcIssuer: string | null; apiAddr: { hostname: string; port: number } | null },
): string {
  if (c.pushOidcIssuer) return c.pushOidcIssuer.replace(/\/$/, "");
  const { hostname, port } = c.apiAddr ?? { hostname: "127.0.0.1", port: 8080 };
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}
