import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { createApp } from "../../src/api/app.ts";
import { versionInfo } from "../../src/version.ts";
import { withTestApi } from "./_app.ts";

Deno.test("health probes", async (t) => {
  await withTestApi(async (api) => {
    await withTestApi(
      async (near) => {
        await t.step("/healthz and /readyz answer without a token", async () => {
          deepStrictEqual((await api.call("GET", "/healthz", { as: null })).body, {
            status: "ok",
            version: versionInfo().version,
            commit: versionInfo().commit,
          });
          const r = await api.call("GET", "/readyz", { as: null });
          equal(r.status, 200);
        });
        await t.step(
          "/health shows details only to read/admin tokens or an allowlisted address",
          async () => {
            // No worker in these tests: offline, like /v1/ops/queues says.
            deepStrictEqual((await api.call("GET", "/health", { as: null })).body, {
              status: "offline",
            });
            for (const as of ["read", "admin"] as const) {
              const withToken = await api.call("GET", "/health", { as });
              assert(withToken.body.database.latencyMs >= 0, as);
              deepStrictEqual(withToken.body.migrations.pending, []);
              assert(withToken.body.reasons.includes("no worker is online"), as);
            }
            for (const as of ["producer", "worker"] as const) {
              const r = await api.call("GET", "/health", { as });
              equal(r.status, 200);
              deepStrictEqual(r.body, { status: "offline" }, `${as}: the status only`);
            }
            const allowlisted = await near.call("GET", "/health", { as: null });
            equal(allowlisted.body.database.reachable, true);
          },
        );
        await t.step("paths match exactly and never open anything else", async () => {
          equal((await api.call("GET", "/healthz/", { as: null })).status, 404);
          equal((await api.call("GET", "/health/../v1/jobs", { as: null })).status, 401);
          equal((await api.call("GET", "/v1/health", { as: null })).status, 401);
        });
        await t.step(
          "/readyz answers 503 with the reason when migrations are pending",
          async () => {
            // The same app that answered ready above: a newer binary's migration (simulated by
            // forgetting one) must still turn it unready.
            equal((await api.call("GET", "/readyz", { as: null })).status, 200);
            await api.db.sql`DELETE FROM sluice.schema_migrations WHERE version = 2`;
            const r = await api.call("GET", "/readyz", { as: null });
            equal(r.status, 503);
            equal(r.body.error.code, "MIGRATIONS_PENDING");
            assert(r.body.error.message.includes("0002_"), r.body.error.message);
            const health = await api.app.request("/health");
            equal(health.status, 503);
            deepStrictEqual(await health.json(), { status: "offline" });
          },
        );
        await t.step("/readyz answers 503 when the database is unreachable", async () => {
          // Its pool ended under the running app: every query now fails as with a lost database.
          await near.db.sql.end();
          const r = await near.call("GET", "/readyz", { as: null });
          equal(r.status, 503);
          equal(r.body.error.code, "DATABASE_UNAVAILABLE");
        });
      },
      { SLUICE_HEALTH_ALLOWLIST: "10.0.0.0/8" },
      { clientIp: "10.1.2.3" },
    );
  }, { SLUICE_HEALTH_ALLOWLIST: "10.0.0.0/8" });
});

Deno.test("/readyz reports low disk for the embedded database", async () => {
  await withTestApi(async (api) => {
    // The embedded check applies when DATABASE_URL is unset; the test app has one, so flip it.
    (api.ctx.config as { databaseUrl: string | null }).databaseUrl = null;
    const app = createApp({ ...api.ctx, config: { ...api.ctx.config, dataDir: "/tmp" } });
    const r = await app.request("/readyz");
    equal(r.status, 503);
    const body = await r.json();
    equal(body.error.code, "NOT_READY");
    assert(body.error.message.includes("free disk"));
  }, { SLUICE_MIN_FREE_DISK: "9000000000000000" });
});
