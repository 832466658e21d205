import type { MiddlewareHandler } from "hono";
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

/**
 * Refuses bodies over `maxBytes` with 413 PAYLOAD_TOO_LARGE before reading them whole: by
 * Content-Length when given, else while reading a chunked body. Hono's `bodyLimit` rebuilds the
 * request as `new Request(raw, …)`, which copies `request.signal` and makes Deno print a text
 * warning (`Deno.serve: request.signal aborts…`) into the JSON log; the copy here takes the
 * url, method and headers only.
 */
export function limitBody(maxBytes: number): MiddlewareHandler<Env> {
  const tooLarge = () =>
    new SluiceError(
      "PAYLOAD_TOO_LARGE",
      `the request body is larger than ${maxBytes} bytes`,
      { limit: maxBytes },
    );
  return async function limitBody(c, next) {
    const raw = c.req.raw;
    if (!raw.body) return await next();
    const length = raw.headers.get("content-length");
    if (length !== null && !raw.headers.has("transfer-encoding")) {
      if (Number.parseInt(length, 10) > maxBytes) throw tooLarge();
      return await next();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of raw.body) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
    const body = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      body.set(chunk, at);
      at += chunk.length;
    }
    c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body });
    await next();
  };
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
