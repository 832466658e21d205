/** An API app on a fresh test database, with one token per scope, driven by `app.request()`. */
import { createApiContext, createApp } from "../../src/api/app.ts";
import type { ApiContext } from "../../src/api/deps.ts";
import { createToken, type Scope } from "../../src/auth/tokens.ts";
import { engineDefaults } from "../../src/queue/queues.ts";
import { requireConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/obs/log.ts";
import { createTestDatabase, type TestDatabase, withTestDatabase } from "../_helpers/db.ts";

export interface TestApi {
  db: TestDatabase;
  ctx: ApiContext;
  app: ReturnType<typeof createApp>;
  tokens: Record<Scope | "producer2", string>;
  logs: Record<string, unknown>[];
  /** `app.request` with a token (by scope name) and a JSON body. */
  call(
    method: string,
    path: string,
    opts?: { as?: Scope | "producer2" | null; body?: unknown; headers?: Record<string, string> },
    // deno-lint-ignore no-explicit-any
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  clientIp?: string;
  maxBodyBytes?: number;
}

/** Runs `fn` with an API app on a fresh database, dropped afterwards also when `fn` throws. */
export function withTestApi<T>(
  fn: (api: TestApi) => Promise<T>,
  env: Record<string, string> = {},
  opts: TestApiOptions = {},
): Promise<T> {
  return withTestDatabase(async (db) => fn(await testApiOn(db, env, opts)));
}

/**
 * `withTestApi` for a caller that cannot put its test in one callback; it owns `close()`.
 * Kept for tests written before `withTestApi`; new tests use `withTestApi`.
 */
export async function createTestApi(
  env: Record<string, string> = {},
  opts: TestApiOptions = {},
): Promise<TestApi> {
  const db = await createTestDatabase();
  try {
    return await testApiOn(db, env, opts);
  } catch (e) {
    await db.drop();
    throw e;
  }
}

async function testApiOn(
  db: TestDatabase,
  env: Record<string, string>,
  opts: TestApiOptions,
): Promise<TestApi> {
  const { config } = requireConfig({ DATABASE_URL: db.url, SLUICE_LOG_LEVEL: "debug", ...env });
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (l) => logs.push(JSON.parse(l)) });
  const ctx = createApiContext({
    sql: db.sql,
    config,
    log,
    defaults: engineDefaults(config),
    tokenCacheMs: 0,
    gaugesCacheMs: 0,
    statusCacheMs: 0,
    migrationsCacheMs: 0,
    wellKnownCacheMs: 0,
    maxBodyBytes: opts.maxBodyBytes,
    clientIp: () => opts.clientIp ?? "192.0.2.1",
  });
  const app = createApp(ctx);
  const tokens = {} as TestApi["tokens"];
  for (const scope of ["admin", "producer", "worker", "read"] as const) {
    tokens[scope] = (await createToken(db.sql, { name: `t-${scope}`, scope })).token;
  }
  tokens.producer2 = (await createToken(db.sql, { name: "t-producer2", scope: "producer" })).token;
  return {
    db,
    ctx,
    app,
    tokens,
    logs,
    async call(method, path, { as = "admin", body, headers = {} } = {}) {
      const h: Record<string, string> = { ...headers };
      if (as) h.authorization = `Bearer ${tokens[as]}`;
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === "string" ? body : JSON.stringify(body);
        h["content-type"] ??= "application/json";
      }
      const res = await app.request(path, { method, headers: h, body: payload });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch { /* not JSON */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    close: () => db.drop(),
  };
}
