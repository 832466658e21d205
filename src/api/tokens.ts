/**
 * `/v1/tokens`: API tokens for admins, the verbs of `sluice token …` over HTTP (the ops page's
 * token view). The secret exists once, in the create answer; lists carry names, scopes and
 * last use only. Revoking ends that token's ops page sessions (src/auth/tokens.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createToken, listTokens, revokeToken, SCOPES } from "../auth/tokens.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonBodyOf, jsonContent } from "./schemas.ts";

const tags = ["tokens"];
const NameParam = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" } }) });

const TokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  scope: z.enum(SCOPES),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().openapi({
    description: "recorded every few seconds by the api role; null if never used",
  }),
  revokedAt: z.string().nullable(),
}).openapi("Token");

export function tokensRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql } = ctx;

  r.openapi(
    createRoute({
      method: "get",
      path: "/tokens",
      tags,
      summary: "Every API token with its scope and last use (never the secret)",
      middleware: [requireScope()] as const,
      responses: {
        200: jsonContent(z.object({ tokens: z.array(TokenSchema) }), "the tokens, oldest first"),
        ...errorResponses(),
      },
    }),
    async (c) => c.json({ tokens: await listTokens(sql) }, 200),
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/tokens",
      tags,
      summary: "Create a token; its secret is in this answer and nowhere else",
      middleware: [requireScope()] as const,
      request: jsonBodyOf(z.strictObject({
        name: z.string().openapi({ example: "billing-producer" }),
        scope: z.enum(SCOPES),
      })),
      responses: {
        201: jsonContent(
          z.object({
            token: TokenSchema,
            secret: z.string().openapi({ description: "shown once: store it now" }),
          }),
          "the new token",
        ),
        ...errorResponses(409, 415),
      },
    }),
    async (c) => {
      const { token, record } = await createToken(sql, c.req.valid("json"));
      ctx.log.info("token_created", {
        name: record.name,
        scope: record.scope,
        by: c.get("token").name,
      });
      return c.json({ token: record, secret: token }, 201);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/tokens/{name}/revoke",
      tags,
      summary: "Revoke a token at once; its ops page sessions end with it (TOKEN_REVOKED)",
      middleware: [requireScope()] as const,
      request: { params: NameParam },
      responses: {
        200: jsonContent(z.object({ token: TokenSchema }), "the revoked token"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const record = await revokeToken(sql, c.req.valid("param").name);
      // The cache would otherwise accept the revoked secret until its entry expires.
      ctx.auth.forget(record.id);
      ctx.log.info("token_revoked", { name: record.name, by: c.get("token").name });
      return c.json({ token: record }, 200);
    },
  );

  return r;
}
