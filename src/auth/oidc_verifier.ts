/**
 * OIDC ID token verification: jose's jwtVerify with the issuer's keys (jwks_cache.ts), and
 * every refusal turned into its own SluiceError code so an operator can tell a clock problem
 * (TOKEN_EXPIRED, TOKEN_NOT_YET_VALID) from a misconfigured audience from an attack.
 *
 * Only asymmetric algorithms are accepted, and the header's `alg` is checked before any key is
 * looked up: `alg: none` and HS256 "signed" with the issuer's public key (the classic key
 * confusion) are refused as ALGORITHM_NOT_ALLOWED, whatever the key set holds.
 */
import { decodeProtectedHeader, errors as joseErrors, type JWTPayload, jwtVerify } from "jose";
import { isSluiceError, SluiceError } from "../errors.ts";
import type { Principal } from "./identities.ts";
import type { JwksCache } from "./jwks_cache.ts";

export const ALLOWED_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** A compact JWS: three base64url parts (the last may be empty for `alg: none`). */
const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

/** Whether a bearer credential is shaped like a JWT (a Sluice token never is). */
export function looksLikeJwt(bearer: string): boolean {
  return bearer.length <= 16_384 && JWT_SHAPE.test(bearer);
}

export interface OidcVerifierOptions {
  /** The `iss` every token must carry. */
  issuer: string;
  /** Accepted `aud` values (a token names one of them). */
  audiences: readonly string[];
  /** Allowed clock difference for `exp`, `nbf` and `iat`, ms. */
  clockSkewMs: number;
  jwks: JwksCache;
}

export interface VerifiedIdToken {
  principal: Principal;
  claims: JWTPayload;
}

export class OidcVerifier {
  readonly #o: OidcVerifierOptions;
  constructor(opts: OidcVerifierOptions) {
    this.#o = opts;
  }

  get issuer(): string {
    return this.#o.issuer;
  }

  /** The token's principal, or a SluiceError with the refusal's code. */
  async verify(token: string): Promise<VerifiedIdToken> {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new SluiceError("TOKEN_MALFORMED", "the bearer token is not a well-formed JWT");
    }
    if (!(ALLOWED_ALGORITHMS as readonly unknown[]).includes(alg)) {
      throw new SluiceError(
        "ALGORITHM_NOT_ALLOWED",
        `ID tokens signed with ${JSON.stringify(alg)} are refused (asymmetric algorithms only)`,
        { alg },
      );
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, this.#o.jwks.getKey, {
        issuer: this.#o.issuer,
        audience: [...this.#o.audiences],
        algorithms: [...ALLOWED_ALGORITHMS],
        clockTolerance: Math.round(this.#o.clockSkewMs / 1000),
        requiredClaims: ["iss", "sub", "aud", "exp"],
      }));
    } catch (e) {
      throw refusal(e);
    }
    // jose checks `iat` only against a maximum age; a token issued in the future is refused
    // like one not yet valid (a skewed issuer clock shows up here first).
    if (typeof claims.iat === "number" && claims.iat * 1000 > Date.now() + this.#o.clockSkewMs) {
      throw new SluiceError("TOKEN_NOT_YET_VALID", "the ID token's 'iat' is in the future", {
        iat: claims.iat,
      });
    }
    const email = typeof claims.email === "string" ? claims.email : null;
    return {
      claims,
      principal: {
        issuer: claims.iss!,
        subject: claims.sub!,
        // OIDC Core §5.1: an email the provider has not verified says nothing about its holder.
        verifiedEmail: email && claims.email_verified === true ? email : null,
      },
    };
  }
}

function refusal(e: unknown): unknown {
  if (isSluiceError(e)) return e;
  if (e instanceof joseErrors.JWTExpired) {
    return new SluiceError("TOKEN_EXPIRED", "the ID token has expired", {
      exp: e.payload.exp ?? null,
    });
  }
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    const details = { claim: e.claim, reason: e.reason };
    switch (e.claim) {
      case "aud":
        return new SluiceError(
          "AUDIENCE_MISMATCH",
          `the ID token's audience ${JSON.stringify(e.payload.aud ?? null)} is not accepted here`,
          details,
        );
      case "iss":
        return new SluiceError(
          "ISSUER_MISMATCH",
          `the ID token's issuer ${
            JSON.stringify(e.payload.iss ?? null)
          } is not the configured one`,
          details,
        );
      case "nbf":
      case "iat":
        return new SluiceError("TOKEN_NOT_YET_VALID", "the ID token is not valid yet", details);
      default:
        return new SluiceError(
          "TOKEN_MALFORMED",
          `the ID token's '${e.claim}' claim is ${e.reason}`,
          details,
        );
    }
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new SluiceError("SIGNATURE_INVALID", "the ID token's signature does not verify");
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) {
    return new SluiceError("ALGORITHM_NOT_ALLOWED", `the ID token is refused: ${e.message}`);
  }
  if (e instanceof joseErrors.JOSEError) {
    return new SluiceError("TOKEN_MALFORMED", `the ID token is refused: ${e.message}`, {
      jose: e.code,
    });
  }
  return e;
}
