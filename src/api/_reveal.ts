import type { Context } from "hono";
import type { Env } from "./deps.ts";

/**
 * Whether this request sees delivery secrets (queue URLs' userinfo and query values, headers,
 * exec arguments) whole: only admins, who may set them anyway. Everyone else gets them
 * redacted (src/delivery/redact.ts), in `/v1/queues` and `/v1/ops/queues` alike.
 */
export function revealsSecrets(c: Context<Env>): boolean {
  return c.get("token")?.scope === "admin";
}
