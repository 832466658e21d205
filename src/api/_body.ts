import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { SluiceError } from "../errors.ts";
import type { Env } from "./deps.ts";

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
        try {
          JSON.parse(text);
        } catch (e) {
          throw new SluiceError("MALFORMED_JSON", "the request body is not valid JSON", {
            reason: (e as Error).message.slice(0, 200),
          });
        }
      }
    }
    await next();
  };
}
