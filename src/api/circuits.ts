/** `GET /v1/circuits`: the http delivery circuit breakers per target origin, open ones first. */
import { createRoute, z } from "@hono/zod-openapi";
import { listCircuits } from "../delivery/circuit.ts";
import { requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import { errorResponses, jsonContent } from "./schemas.ts";

const CircuitSchema = z.object({
  origin: z.string().openapi({ example: "https://hooks.example.com:443" }),
  state: z.enum(["closed", "open", "half_open"]),
  consecutiveFailures: z.number(),
  windowStart: z.string(),
  windowSuccesses: z.number(),
  windowFailures: z.number(),
  openedAt: z.string().nullable(),
  openUntil: z.string().nullable().openapi({ description: "when the cooldown ends (a probe)" }),
  probeHolder: z.string().nullable(),
  lastFailure: z.string().nullable(),
  updatedAt: z.string(),
}).openapi("Circuit");

export function circuitsRouter(ctx: ApiContext) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: "get",
      path: "/circuits",
      tags: ["delivery"],
      summary: "Circuit breakers of http delivery, one per target origin, open ones first",
      middleware: [requireScope("read")] as const,
      responses: {
        200: jsonContent(z.object({ circuits: z.array(CircuitSchema) }), "every known circuit"),
        ...errorResponses(),
      },
    }),
    async (c) => c.json({ circuits: await listCircuits(ctx.sql) }, 200),
  );
  return r;
}
