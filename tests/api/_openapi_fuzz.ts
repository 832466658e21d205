/**
 * A fuzzer driven by `/v1/openapi.json`: for every operation it builds fast-check arbitraries
 * from the parameter and body schemas, mixing values the schema allows, boundary values
 * (0, -1, 2^31, 2^53, 19-digit strings, year 0000, huge durations), hostile strings and wrong
 * types, and sends them through `app.request()` (the same Hono app `sluice api` serves, on a
 * real database). Each answer must be below 500, arrive within a bound, and, when it is an
 * error, have the documented shape `{"error":{"code","message","details"}}`.
 *
 * The fixture (queues of every mode, jobs in several states, a pull lease, a schedule) is named
 * in the generated values, so requests reach past "not found" into the code that does work.
 */
import fc from "fast-check";
import { Signer } from "../../src/delivery/signature.ts";
import type { TestApi } from "./_app.ts";

// deno-lint-ignore no-explicit-any
type Schema = Record<string, any>;

export interface Operation {
  method: string;
  /** OpenAPI template, e.g. `/v1/jobs/{id}`. */
  path: string;
  params: { name: string; in: "path" | "query" | "header"; required: boolean; schema: Schema }[];
  body: Schema | null;
}

export interface Fixture {
  queues: string[];
  jobIds: string[];
  schedules: string[];
  /** Fences of live pull leases, so heartbeat/complete/fail bodies can name real ones. */
  fences: { id: string; attempt: number; leaseToken: string }[];
}

export interface FuzzRequest {
  op: Operation;
  as: "admin" | "producer" | "worker" | "read" | null;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

export interface FuzzFailure {
  request: string;
  status: number;
  answer: string;
  why: string;
}

const HOSTILE_STRINGS = [
  "",
  " ",
  "0",
  "-1",
  "1.5",
  "1e309",
  "NaN",
  "Infinity",
  "9999999999999999999",
  "99999999999999999999999999",
  "-9223372036854775809",
  "4294967296",
  "3000000000",
  "0x10",
  "abc",
  "null",
  "true",
  "[]",
  "{}",
  "\u0000",
  "a\u0000b",
  "\r\nX-Injected: 1",
  "../../etc/passwd",
  "%00",
  "%2e%2e%2f",
  "'; DROP TABLE sluice.jobs; --",
  "\\",
  '"',
  "😀".repeat(40),
  "\ud800",
  "a".repeat(257),
  "a".repeat(70_000),
  "0000-01-01T00:00:00Z",
  "-271821-04-20T00:00:00Z",
  "+275760-09-13T00:00:00.000Z",
  "9999-12-31T23:59:59Z",
  "1970-01-01T00:00:00Z",
  "2026-13-45T99:99:99Z",
  "2026-02-30",
  "0s",
  "-5s",
  "1ms",
  "99999999999d",
  "5m",
  "1e3s",
  "* * * * *",
  "61 25 32 13 8",
  "@every 1s",
  "Mars/Olympus_Mons",
  "http://0.0.0.0:1/",
  "http://[::]:1/",
  "http://169.254.169.254/latest/meta-data/",
  "file:///etc/passwd",
  "javascript:alert(1)",
];

const HOSTILE_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  3_000_000_000,
  2 ** 53 - 1,
  2 ** 53 + 2,
  -(2 ** 53),
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
];

/** `[[[…]]]` `depth` levels deep. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const ANY_JSON: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom<unknown>(null, [], {}, "x", 1, true, nested(99), nested(150), nested(3_000)),
);

export function operations(doc: Schema): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<Schema>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<Schema>(item)) {
      const body = op.requestBody?.content?.["application/json"]?.schema ?? null;
      ops.push({
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).map((p: Schema) => ({
          name: p.name,
          in: p.in,
          required: !!p.required,
          schema: p.schema ?? {},
        })),
        body,
      });
    }
  }
  return ops;
}

export class SchemaArbitraries {
  #doc: Schema;
  #fx: Fixture;
  constructor(doc: Schema, fixture: Fixture) {
    this.#doc = doc;
    this.#fx = fixture;
  }

  #resolve(s: Schema): Schema {
    let cur = s;
    for (let i = 0; cur?.$ref && i < 10; i++) {
      const name = String(cur.$ref).replace("#/components/schemas/", "");
      cur = this.#doc.components?.schemas?.[name] ?? {};
    }
    return cur ?? {};
  }

  /** Values that fixture-aware names want: real queue names, job ids, fences. */
  #named(name: string): fc.Arbitrary<unknown> | null {
    const f = this.#fx;
    if (/^(queue|name)$/.test(name) && f.queues.length) {
      return fc.constantFrom(...f.queues, ...f.schedules);
    }
    if (/^(id|jobId|retryOf|before)$/.test(name) && f.jobIds.length) {
      return fc.constantFrom(...f.jobIds);
    }
    if (name === "leaseToken" && f.fences.length) {
      return fc.constantFrom(...f.fences.map((x) => x.leaseToken));
    }
    if (name === "attempt" && f.fences.length) {
      return fc.constantFrom(...f.fences.map((x) => x.attempt));
    }
    return null;
  }

  /** A value for `schema`: mostly what it describes, sometimes a boundary or the wrong type. */
  value(schema: Schema, name = "", depth = 0): fc.Arbitrary<unknown> {
    const s = this.#resolve(schema);
    const hostile = fc.oneof(
      fc.constantFrom<unknown>(...HOSTILE_STRINGS),
      fc.constantFrom<unknown>(...HOSTILE_NUMBERS),
      fc.constantFrom<unknown>(null, true, false, [], {}, nested(150)),
    );
    const named = this.#named(name);
    const valid = this.#valid(s, depth);
    const choices: fc.WeightedArbitrary<unknown>[] = [
      { arbitrary: valid, weight: 6 },
      { arbitrary: hostile, weight: 3 },
    ];
    if (named) choices.push({ arbitrary: named, weight: 4 });
    return fc.oneof(...choices);
  }

  #valid(s: Schema, depth: number): fc.Arbitrary<unknown> {
    const alternatives = s.anyOf ?? s.oneOf;
    if (Array.isArray(alternatives) && alternatives.length) {
      return fc.oneof(...alternatives.map((a: Schema) => this.#valid(this.#resolve(a), depth)));
    }
    if (Array.isArray(s.allOf) && s.allOf.length) {
      return this.#valid(Object.assign({}, ...s.allOf.map((a: Schema) => this.#resolve(a))), depth);
    }
    if (Array.isArray(s.enum) && s.enum.length) {
      return fc.oneof(fc.constantFrom(...s.enum), fc.string({ maxLength: 12 }));
    }
    const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== "null") : s.type;
    switch (type) {
      case "string":
        return fc.oneof(
          fc.string({ maxLength: Math.min(s.maxLength ?? 40, 80) }),
          fc.constantFrom(...HOSTILE_STRINGS),
          ...(s.example !== undefined ? [fc.constant(String(s.example))] : []),
          fc.integer({ min: 0, max: 50 }).map(String),
          fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
        );
      case "integer":
      case "number":
        return fc.oneof(
          fc.integer({
            min: Math.max(s.minimum ?? -1_000, -1_000_000),
            max: Math.min(s.maximum ?? 1_000, 1_000_000),
          }),
          fc.constantFrom(...HOSTILE_NUMBERS),
          ...(s.minimum !== undefined ? [fc.constantFrom(s.minimum - 1, s.minimum)] : []),
          ...(s.maximum !== undefined ? [fc.constantFrom(s.maximum, s.maximum + 1)] : []),
        );
      case "boolean":
        return fc.boolean();
      case "array":
        if (depth > 4) return fc.constant([]);
        return fc.array(this.value(s.items ?? {}, "", depth + 1), {
          maxLength: depth === 0 ? 12 : 4,
        });
      case "object":
        return this.object(s, depth);
      default:
        return ANY_JSON;
    }
  }

  /** An object: required fields mostly present, optional ones sometimes, now and then a stray. */
  object(s: Schema, depth = 0): fc.Arbitrary<unknown> {
    if (depth > 4) return fc.constant({});
    const props = Object.entries<Schema>(s.properties ?? {});
    if (!props.length) return ANY_JSON;
    const required = new Set<string>(s.required ?? []);
    const fields = props.map(([k, v]) =>
      fc.tuple(
        fc.constant(k),
        this.value(v, k, depth + 1),
        required.has(k) ? fc.nat(19).map((n) => n > 0) : fc.boolean(),
      )
    );
    return fc.tuple(
      fc.tuple(...fields),
      fc.option(fc.tuple(fc.string({ maxLength: 10 }), ANY_JSON), { freq: 8 }),
    ).map(([entries, extra]) => {
      const o: Record<string, unknown> = {};
      for (const [k, v, present] of entries) if (present) o[k] = v;
      // defineProperty: a stray `__proto__` key must be an own field, as JSON.parse makes it.
      if (extra) {
        Object.defineProperty(o, extra[0] || "__proto__", {
          value: extra[1],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return o;
    });
  }
}

function asText(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v) ?? "";
}

/** A whole request for `op`: path, query, headers and body. */
export function requestArbitrary(
  arbs: SchemaArbitraries,
  op: Operation,
  signer: Signer,
): fc.Arbitrary<FuzzRequest> {
  const params = op.params.map((p) =>
    fc.tuple(
      fc.constant(p),
      arbs.value(p.schema, p.name),
      p.required ? fc.constant(true) : fc.boolean(),
    )
  );
  const body = op.body
    ? fc.oneof(
      { arbitrary: arbs.value(op.body).map((v) => JSON.stringify(v)), weight: 12 },
      {
        arbitrary: fc.constantFrom(
          "",
          "{",
          "null",
          "[]",
          '{"a":1,"a":2}',
          "[".repeat(200_000) + "]".repeat(200_000),
          '{"payload":' + "[".repeat(200_000) + "]".repeat(200_000) + "}",
          "\u0000",
        ),
        weight: 1,
      },
    ).map((b): string | undefined => b)
    : fc.constant<string | undefined>(undefined);
  const as = fc.constantFrom<FuzzRequest["as"]>(
    "admin",
    "admin",
    "admin",
    "admin",
    "admin",
    "producer",
    "worker",
    "read",
    null,
  );
  const signed = fc.nat(9).map((n) => n > 0);
  return fc.tuple(fc.tuple(...params), body, as, signed).map(([ps, b, who, sign]) => {
    let url = op.path;
    const query = new URLSearchParams();
    const headers: Record<string, string> = {};
    for (const [p, v, present] of ps) {
      const text = asText(v);
      if (p.in === "path") {
        url = url.replace(`{${p.name}}`, encodeURIComponent(text.toWellFormed() || "x"));
      } else if (!present) continue;
      else if (p.in === "query") query.set(p.name, text);
      // fetch's Headers take printable Latin-1 only (no CR/LF, NUL, emoji): drop other values.
      else if (p.in === "header" && /^[\x20-\x7e\t]*$/.test(text)) headers[p.name] = text;
    }
    if (op.path === "/v1/callbacks" && b !== undefined && sign) {
      // Signed: most callbacks pass the signature check so their bodies get validated.
      const id = `msg_${Math.abs(hash(b))}`;
      const ts = Math.floor(Date.now() / 1000);
      headers["webhook-id"] = id;
      headers["webhook-timestamp"] = String(ts);
      headers["webhook-signature"] = signer.sign(id, ts, b);
    }
    const qs = query.toString();
    if (b !== undefined) headers["content-type"] = "application/json";
    return { op, as: who, url: qs ? `${url}?${qs}` : url, headers, body: b };
  });
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i += 97) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h ^ s.length;
}

const ERROR_CODE = /^[A-Z][A-Z0-9_]+$/;

/** Sends `req`; returns why the answer breaks the contract, or null. */
export async function check(
  api: TestApi,
  req: FuzzRequest,
  timeoutMs: number,
): Promise<FuzzFailure | null> {
  const headers: Record<string, string> = { ...req.headers };
  if (req.as) headers.authorization = `Bearer ${api.tokens[req.as]}`;
  const describe = () =>
    `${req.op.method} ${req.url.slice(0, 300)} as=${req.as} body=${(req.body ?? "").slice(0, 300)}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
  try {
    const answer = await Promise.race([
      (async () => {
        const res = await api.app.request(req.url, {
          method: req.op.method,
          headers,
          body: req.body,
        });
        return {
          status: res.status,
          text: await res.text(),
          type: res.headers.get("content-type"),
        };
      })(),
      timeout,
    ]);
    if (answer === "timeout") {
      return { request: describe(), status: 0, answer: "", why: `no answer in ${timeoutMs} ms` };
    }
    const fail = (why: string) => ({
      request: describe(),
      status: answer.status,
      answer: answer.text.slice(0, 500),
      why,
    });
    if (answer.status >= 500) return fail("a 5xx answer");
    if (answer.status >= 400) {
      let parsed: Schema;
      try {
        parsed = JSON.parse(answer.text);
      } catch {
        return fail("an error answer that is not JSON");
      }
      const e = parsed?.error;
      if (!e || typeof e !== "object") return fail("an error answer without `error`");
      if (typeof e.code !== "string" || !ERROR_CODE.test(e.code)) return fail("error.code");
      if (typeof e.message !== "string" || !e.message) return fail("error.message");
      if (!("details" in e) || typeof e.details !== "object") return fail("error.details");
      if (/\bat .*\.ts:\d+|node_modules|stack/i.test(answer.text)) return fail("leaks internals");
    }
    return null;
  } finally {
    clearTimeout(timer);
  }
}
