import { deepStrictEqual, equal } from "node:assert/strict";
import { Hono } from "hono";
import { clientIp } from "../../src/api/client_ip.ts";
import { startApiServer } from "../../src/api/serve.ts";
import { requireConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/obs/log.ts";
import { engineDefaults } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { parsePrometheus, valueOf } from "../obs/_prom_parser.ts";
import { withTestApi } from "./_app.ts";

/** What clientIp() answers for a request from `peer` with these headers. */
async function seen(
  peer: string,
  trustedProxies: string[],
  headers: Record<string, string> = {},
): Promise<string> {
  const app = new Hono();
  const deps = { config: { trustedProxies }, clientIp: () => peer };
  app.get("/", (c) => c.text(clientIp(c, deps)));
  return await (await app.request("/", { headers })).text();
}

Deno.test("clientIp() honours X-Forwarded-For only from a trusted proxy", async (t) => {
  const xff = { "x-forwarded-for": "198.51.100.9, 203.0.113.7, 10.0.0.9" };
  await t.step(
    "no trusted proxies (the default): the socket's address, header ignored",
    async () => {
      equal(await seen("10.0.0.5", [], xff), "10.0.0.5");
    },
  );
  await t.step("a peer outside the trusted ranges cannot claim another address", async () => {
    equal(await seen("192.0.2.44", ["10.0.0.0/8"], xff), "192.0.2.44");
  });
  await t.step("through trusted proxies: the rightmost address that is not one", async () => {
    equal(await seen("10.0.0.5", ["10.0.0.0/8"], xff), "203.0.113.7");
    equal(await seen("::ffff:10.0.0.5", ["10.0.0.0/8"], xff), "203.0.113.7");
  });
  await t.step("a trusted peer without the header, or with garbage in it", async () => {
    equal(await seen("10.0.0.5", ["10.0.0.0/8"]), "10.0.0.5");
    equal(
      await seen("10.0.0.5", ["10.0.0.0/8"], { "x-forwarded-for": "x; drop, 10.0.0.8" }),
      "10.0.0.8",
    );
  });
});

Deno.test("http_request lines carry client_ip; rate limits use it and count by route", async () => {
  await withTestApi(
    async (api) => {
      const from = (ip: string) => ({ as: null, headers: { "x-forwarded-for": ip } });
      for (let i = 0; i < 2; i++) {
        equal((await api.call("GET", "/v1/jobs/1", from("203.0.113.7"))).status, 401);
      }
      equal((await api.call("GET", "/v1/jobs/1", from("203.0.113.7"))).status, 429);
      // Another client behind the same proxy has its own budget.
      equal((await api.call("GET", "/v1/jobs/1", from("203.0.113.8"))).status, 401);
      const lines = api.logs.filter((l) => l.msg === "http_request");
      deepStrictEqual(lines.map((l) => [l.client_ip, l.status]), [
        ["203.0.113.7", 401],
        ["203.0.113.7", 401],
        ["203.0.113.7", 429],
        ["203.0.113.8", 401],
      ]);
      const limited = api.logs.find((l) => l.msg === "rate_limited");
      deepStrictEqual([limited?.key, limited?.route], ["203.0.113.7", "/v1/jobs/:id"]);
      const fam = parsePrometheus((await api.call("GET", "/metrics/prom", { as: "read" })).body);
      equal(
        valueOf(fam, "sluice_rate_limit_events_total", { scope: "ip", route: "/v1/jobs/:id" }),
        1,
      );
    },
    { SLUICE_TRUSTED_PROXIES: "192.0.2.0/24", SLUICE_API_RATE_LIMIT: "2" },
    { clientIp: "192.0.2.1" },
  );
});

Deno.test("startApiServer(): http_request lines carry the socket's address over real HTTP; a forwarded one only from SLUICE_TRUSTED_PROXIES", async (t) => {
  await withTestDatabase(async (db) => {
    /** The client_ip of the http_request line for one real request through Deno.serve. */
    const logged = async (env: Record<string, string>) => {
      const { config } = requireConfig({
        DATABASE_URL: db.url,
        SLUICE_API_ADDR: "127.0.0.1:0",
        ...env,
      });
      const lines: Record<string, unknown>[] = [];
      const log = createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
      const server = await startApiServer({
        sql: db.sql,
        config,
        log,
        defaults: engineDefaults(config),
      });
      try {
        const r = await fetch(`${server.url}/healthz`, {
          headers: { "x-forwarded-for": "203.0.113.7" },
        });
        equal(r.status, 200);
        await r.body?.cancel();
      } finally {
        await server.close();
      }
      return lines.filter((l) => l.msg === "http_request").map((l) => l.client_ip);
    };
    await t.step("by default the header is ignored: the peer's own address", async () => {
      deepStrictEqual(await logged({}), ["127.0.0.1"]);
    });
    await t.step("from a trusted proxy: the address it forwarded for", async () => {
      deepStrictEqual(await logged({ SLUICE_TRUSTED_PROXIES: "127.0.0.1/32" }), ["203.0.113.7"]);
    });
  });
});
