/**
 * `/.well-known/openid-configuration` and `/.well-known/jwks.json`: what a push receiver's JWT
 * middleware needs to verify the ID tokens Sluice mints (src/delivery/push_token.ts). Public
 * and minimal: the issuer, where its keys are, which algorithm; no authorization endpoints
 * (Sluice issues tokens only to its own pushes).
 *
 * Keys are read from the database at most every 10 s per api process, and answered with
 * `Cache-Control: max-age=60`; a rotation publishes its key 2 minutes before it signs
 * (src/auth/push_keys.ts), so both caches hold it before any token needs it.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { JWK } from "jose";
import { pushIssuer } from "../auth/oidc_setup.ts";
import { publishedKeys, PUSH_ALG } from "../auth/push_keys.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { jsonContent } from "./schemas.ts";

const Discovery = z.object({
  issuer: z.string(),
  jwks_uri: z.string(),
  id_token_signing_alg_values_supported: z.array(z.string()),
  subject_types_supported: z.array(z.string()),
  response_types_supported: z.array(z.string()),
  claims_supported: z.array(z.string()),
}).openapi("OpenIdConfiguration");
const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).openapi("Jwks");
const tags = ["identities"];

export function wellKnownRouter(ctx: ApiContext) {
  const r = newRouter();
  const issuer = pushIssuer(ctx.config);
  let cached: { keys: Promise<JWK[]>; at: number } | null = null;
  const keys = () => {
    const now = Date.now();
    if (!cached || now - cached.at >= (ctx.wellKnownCacheMs ?? 10_000)) {
      const p = publishedKeys(ctx.sql);
      cached = { keys: p, at: now };
      // Neither a failure nor "no key yet" is kept: the first push's key must show at once.
      p.then((k) => k.length === 0 && (cached = null), () => (cached = null));
    }
    return cached.keys;
  };
  const headers = { "cache-control": "public, max-age=60" };
  r.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/openid-configuration",
      tags,
      summary: "OIDC discovery of the issuer of push ID tokens (public)",
      security: [],
      responses: { 200: jsonContent(Discovery, "issuer and where its keys are") },
    }),
    (c) =>
      c.json(
        {
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          id_token_signing_alg_values_supported: [PUSH_ALG],
          subject_types_supported: ["public"],
          response_types_supported: ["id_token"],
          claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
          ],
        },
        200,
        headers,
      ),
  );
  r.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/jwks.json",
      tags,
      summary:
        "Public keys of push ID tokens: the signing key, the next one, and old ones (public)",
      security: [],
      responses: { 200: jsonContent(Jwks, "a JWKS") },
    }),
    async (c) => c.json({ keys: (await keys()) as Record<string, unknown>[] }, 200, headers),
  );
  return r;
}
