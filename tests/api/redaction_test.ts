import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestApi } from "./_app.ts";

const SECRETS = ["hunter2", "sekrit", "tenant-key", "s3cret-arg"];

// #14.11: delivery URLs, headers and exec commands (credentials, often) went to every scope.
Deno.test("queue delivery secrets are whole for admins only, in /v1/queues and /v1/ops/queues", async () => {
  await withTestApi(async (api) => {
    await createQueue(api.db.sql, "hooks", {
      delivery: {
        mode: "http",
        url: "https://user:hunter2@hooks.example.com/in?api_key=sekrit",
        headers: { authorization: "Bearer tenant-key" },
      },
    });
    await createQueue(api.db.sql, "script", {
      delivery: { mode: "exec", command: "/usr/bin/handler --password s3cret-arg" },
    });
    for (const as of ["read", "producer", "worker"] as const) {
      for (
        const path of ["/v1/queues", "/v1/queues/hooks", "/v1/queues/script", "/v1/ops/queues"]
      ) {
        const r = await api.call("GET", path, { as });
        // /v1/ops/queues is for read (and admin) tokens; the others get 403, also without secrets.
        equal(r.status, path === "/v1/ops/queues" && as !== "read" ? 403 : 200, `${as} ${path}`);
        const text = JSON.stringify(r.body);
        for (const s of SECRETS) assert(!text.includes(s), `${as} ${path} shows '${s}': ${text}`);
      }
      const hooks = (await api.call("GET", "/v1/queues/hooks", { as })).body.queue.delivery;
      deepStrictEqual(hooks, {
        mode: "http",
        url: "https://***@hooks.example.com/in?api_key=***",
        headers: { authorization: "***" },
      });
      const script = (await api.call("GET", "/v1/queues/script", { as })).body.queue.delivery;
      deepStrictEqual(script, { mode: "exec", command: "/usr/bin/handler ***" });
    }
    const admin = (await api.call("GET", "/v1/queues")).body.queues;
    const byName = Object.fromEntries(
      admin.map((q: { name: string; delivery: unknown }) => [q.name, q.delivery]),
    );
    deepStrictEqual(byName.hooks, {
      mode: "http",
      url: "https://user:hunter2@hooks.example.com/in?api_key=sekrit",
      headers: { authorization: "Bearer tenant-key" },
    });
    deepStrictEqual(byName.script, {
      mode: "exec",
      command: "/usr/bin/handler --password s3cret-arg",
    });
    // The ops snapshot is shared between callers for 2 s: a read token asking right after an
    // admin must still get it redacted.
    const ops = await api.call("GET", "/v1/ops/queues");
    assert(JSON.stringify(ops.body).includes("hunter2"));
    const opsRead = await api.call("GET", "/v1/ops/queues", { as: "read" });
    assert(!JSON.stringify(opsRead.body).includes("hunter2"));
  });
});
