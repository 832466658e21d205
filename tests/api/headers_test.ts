import { equal } from "node:assert/strict";
import { withTestApi } from "./_app.ts";

Deno.test("every response says x-frame-options: DENY (the ops page, the API, errors)", async () => {
  await withTestApi(async (api) => {
    for (const [path, as] of [["/", null], ["/app.js", null], ["/v1/queues", "read"]] as const) {
      const r = await api.call("GET", path, { as });
      equal(r.status, 200, path);
      equal(r.headers.get("x-frame-options"), "DENY", path);
    }
    for (const path of ["/v1/queues", "/nowhere", "/healthz"]) {
      equal((await api.call("GET", path, { as: null })).headers.get("x-frame-options"), "DENY");
    }
  });
});
