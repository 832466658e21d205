/**
 * `/v1/identities`: OIDC identities granted a scope (src/auth/identities.ts), admin only, like
 * tokens are: whoever can grant an identity can grant themselves anything.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { addIdentity, listIdentities, revokeIdentityById } from "../auth/identities.ts";
import { SCOPES } from "../auth/scope.ts";
import { SluiceError } from "../errors.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonBodyOf, jsonContent } from "./schemas.ts";

const IdentitySchema = z.object({
  id: z.string(),
  name: z.string().openapi({ description: "the caller's name in Sluice is identity/<name>" }),
  issuer: z.string(),
  subject: z.string().nullable(),
  email: z.string().nullable().openapi({ description: "matches only when email_verified" }),
  scope: z.enum(SCOPES),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().openapi({ description: "written every few seconds" }),
  revokedAt: z.string().nullable(),
}).openapi("Identity");

const IdentityCreateBody = z.strictObject({
  issuer: z.string().optional().openapi({ description: "default: SLUICE_OIDC_ISSUER" }),
  subject: z.string().min(1).max(1024).optional(),
  email: z.string().min(3).max(320).optional(),
  scope: z.enum(SCOPES),
  name: z.string().optional().openapi({ description: "default: the email or subject" }),
}).openapi("IdentityCreateRequest");

const IdParam = z.object({
  id: z.string().regex(/^[1-9][0-9]{0,18}$/).openapi({ param: { name: "id", in: "path" } }),
});
const tags = ["identities"];

export function identitiesRouter(ctx: ApiContext) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: "get",
      path: "/identities",
      tags,
      summary: "OIDC identities granted a scope, with last use (revoked ones too)",
      middleware: [requireScope()] as const,
      responses: {
        200: jsonContent(
          z.object({
            issuer: z.string().nullable().openapi({ description: "SLUICE_OIDC_ISSUER" }),
            identities: z.array(IdentitySchema),
          }),
          "every identity, oldest first",
        ),
        ...errorResponses(),
      },
    }),
    async (c) =>
      c.json({ issuer: ctx.config.oidcIssuer, identities: await listIdentities(ctx.sql) }, 200),
  );
  r.openapi(
    createRoute({
      method: "post",
      path: "/identities",
      tags,
      summary: "Grant a scope to an issuer + subject, or issuer + verified email",
      middleware: [requireScope()] as const,
      request: jsonBodyOf(IdentityCreateBody),
      responses: {
        201: jsonContent(z.object({ identity: IdentitySchema }), "granted"),
        ...errorResponses(409),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const issuer = b.issuer ?? ctx.config.oidcIssuer;
      if (!issuer) {
        throw new SluiceError(
          "VALIDATION_FAILED",
          "'issuer' is required while SLUICE_OIDC_ISSUER is unset",
        );
      }
      const identity = await addIdentity(ctx.sql, { ...b, issuer });
      ctx.log.info("identity_added", { name: identity.name, scope: identity.scope });
      return c.json({ identity }, 201);
    },
  );
  r.openapi(
    createRoute({
      method: "delete",
      path: "/identities/{id}",
      tags,
      summary: "Revoke an identity (the api stops accepting it within seconds)",
      middleware: [requireScope()] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ identity: IdentitySchema }), "revoked"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const identity = await revokeIdentityById(ctx.sql, c.req.valid("param").id);
      ctx.log.info("identity_revoked", { name: identity.name });
      return c.json({ identity }, 200);
    },
  );
  return r;
}
