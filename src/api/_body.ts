import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { SluiceError } from "../errors.ts";
import { jsonDepth, MAX_JSON_DEPTH } from "../queue/json_value.ts";
import type { Env } from "./deps.ts";

/**
 * Deepest request body accepted: a payload's own limit (MAX_JSON_DEPTH) plus room for the
 * envelope around it (`{"jobs":[{"payload":…}]}`), so payloads get their precise message and
 * absurd nesting anywhere else is a 400 here, never a stack overflow further in (PostgreSQL's
 * jsonb input answered a 200,000-deep schedule payload with "stack depth limit exceeded", a 500).
 */
export const MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8;

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;|$)/i;

/** Refuses bodies over `maxBytes` with 413 PAYLOAD_TOO_LARGE before reading them whole. */
export function limitBody(maxBytes: number): MiddlewareHandler<Env> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new SluiceError(
        "PAYLOAD_TOO_LARGE",
        `the request body is larger than ${maxBytes} bytes`,
        { limit: maxBytes },
      );
    },
  });
}

/**
 * A request with a body must say `Content-Type: application/json` (415 otherwise) and carry valid
 * JSON (400 MALFORMED_JSON otherwise). The text stays in Hono's request cache, where the zod
 * validators read it.
 */
export function jsonBody(): MiddlewareHandler<Env> {
  return async function jsonBody(c, next) {
    const method = c.req.method;
    if (method === "POST" || method === "PUT" || method === "PATCH") {
      // An empty body counts as none, whatever the headers say (curl -X POST sends no length).
      const text = c.req.raw.body === null ? "" : await c.req.text();
      if (text.length > 0) {
        const type = c.req.header("content-type") ?? "";
        if (!JSON_TYPE.test(type)) {
          throw new SluiceError(
            "UNSUPPORTED_MEDIA_TYPE",
            `send JSON with 'Content-Type: application/json' (got ${
              type ? `'${type.slice(0, 100)}'` : "none"
            })`,
            { contentType: type.slice(0, 100) },
          );
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (e) {
          throw new SluiceError("MALFORMED_JSON", "the request body is not valid JSON", {
            reason: (e as Error).message.slice(0, 200),
          });
        }
        const depth = jsonDepth(parsed);
        if (depth > MAX_BODY_DEPTH) {
          throw new SluiceError(
            "VALIDATION_FAILED",
            `the request body is nested ${depth} levels deep; at most ${MAX_BODY_DEPTH} are accepted`,
            { depth, max: MAX_BODY_DEPTH },
          );
        }
      }
    }
    await next();
  };
}
