/** /v1/tokens: create (secret once), list with last use, revoke (refused at once). */
import { equal, ok as assert } from "node:assert/strict";
import { createTestApi } from "./_app.ts";

Deno.test("admins create, list and revoke tokens over HTTP", async (t) => {
  const api = await createTestApi();
  try {
    let secret = "";
    await t.step("create answers the secret once, and it works", async () => {
      const r = await api.call("POST", "/v1/tokens", { body: { name: "ci", scope: "producer" } });
      equal(r.status, 201, JSON.stringify(r.body));
      secret = r.body.secret;
      assert(secret.startsWith("sluice_"));
      equal(r.body.token.scope, "producer");
      const used = await api.app.request("/v1/jobs?limit=1", {
        headers: { authorization: `Bearer ${secret}` },
      });
      equal(used.status, 200);
      const again = await api.call("POST", "/v1/tokens", { body: { name: "ci", scope: "read" } });
      equal(again.status, 409);
    });

    await t.step("the list has scopes and last use, never a secret or hash", async () => {
      await api.ctx.auth.flush();
      const r = await api.call("GET", "/v1/tokens");
      equal(r.status, 200);
      const ci = r.body.tokens.find((x: { name: string }) => x.name === "ci");
      assert(ci.lastUsedAt, "last use recorded");
      const text = JSON.stringify(r.body);
      assert(!text.includes(secret) && !text.includes("hash"), text);
    });

    await t.step("revoke refuses the token at once", async () => {
      const r = await api.call("POST", "/v1/tokens/ci/revoke");
      equal(r.status, 200);
      assert(r.body.token.revokedAt);
      const used = await api.app.request("/v1/jobs?limit=1", {
        headers: { authorization: `Bearer ${secret}` },
      });
      equal(used.status, 401);
      equal((await api.call("POST", "/v1/tokens/nope/revoke")).status, 404);
    });

    await t.step("only admins", async () => {
      equal((await api.call("GET", "/v1/tokens", { as: "read" })).status, 403);
      const r = await api.call("POST", "/v1/tokens", {
        as: "producer",
        body: { name: "x", scope: "admin" },
      });
      equal(r.status, 403);
    });
  } finally {
    await api.close();
  }
});
