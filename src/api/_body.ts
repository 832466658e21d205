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
 * JSON (400 MALFORMED_JSON otherwise). The parsed body stays in Hono's request cache, where the
 * zod validators read it.
 */
export function jsonBody(): MiddlewareHandler<Env> {
  return async function jsonBody(c, next) {
    const method = c.req.method;
    if (method === "POST" || method === "PUT" || method === "PATCH") {
      const length = c.req.header("content-length");
      const hasBody = length !== undefined ? length !== "0" : c.req.raw.body !== null;
      if (hasBody) {
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
          await c.req.json();
        } catch (e) {
          if (e instanceof SluiceError) throw e;
          throw new SluiceError("MALFORMED_JSON", "the request body is not valid JSON", {
            reason: (e as Error).message.slice(0, 200),
          });
        }
      }
    }
    await next();
  };
}
