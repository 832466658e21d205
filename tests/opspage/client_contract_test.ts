/**
 * The page's client and the server agree: every route in static/client.js ROUTES exists in
 * /v1/openapi.json with that method, and every field the page reads is in its success
 * response, and real answers carry those fields.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { ROUTES, SCOPES, STATES } from "../../static/client.js";
import { withTestApi } from "../api/_app.ts";

// deno-lint-ignore no-explicit-any
type Schema = any;

/** The properties of a schema, through $ref and allOf. */
function properties(spec: Schema, s: Schema): Record<string, Schema> {
  if (!s) return {};
  if (s.$ref) return properties(spec, spec.components.schemas[s.$ref.split("/").at(-1)]);
  const own = { ...(s.properties ?? {}) };
  for (const part of s.allOf ?? []) Object.assign(own, properties(spec, part));
  return own;
}

function successSchema(op: Schema): Schema {
  const status = Object.keys(op.responses).find((k) => k.startsWith("2"))!;
  return op.responses[status].content?.["application/json"]?.schema;
}

Deno.test("the ops page client and the API agree on routes and fields", async (t) => {
  await withTestApi(async (api) => {
    const spec = (await api.call("GET", "/v1/openapi.json", { as: null })).body;

    await t.step("every route and field the page reads is in the OpenAPI document", () => {
      for (const r of ROUTES) {
        const op = spec.paths[r.path]?.[r.method.toLowerCase()];
        assert(op, `${r.method} ${r.path} is not in the API`);
        const props = properties(spec, successSchema(op));
        for (const f of r.fields) assert(props[f], `${r.method} ${r.path} has no field ${f}`);
        if (r.items) {
          const list = r.fields.map((f) => props[f]).find((p) => p?.type === "array");
          assert(list, `${r.method} ${r.path} has no list field`);
          const item = properties(spec, list.items);
          for (const f of r.items) assert(item[f], `${r.method} ${r.path} items have no ${f}`);
        }
      }
    });

    await t.step("the page knows the job states the API has, in its order", () => {
      deepEqual(STATES, spec.components.schemas.Job.properties.state.enum);
    });

    await t.step("the page offers the scopes the API grants", () => {
      deepEqual(
        [...SCOPES].sort(),
        [...spec.components.schemas.Identity.properties.scope.enum].sort(),
      );
    });

    await t.step("real answers of the read routes carry those fields", async () => {
      equal((await api.call("POST", "/v1/queues", { body: { name: "contract" } })).status, 201);
      const job = await api.call("POST", "/v1/jobs", { body: { queue: "contract", kind: "k" } });
      equal(job.status, 201);
      const fill = (p: string) => p.replace("{name}", "contract").replace("{id}", job.body.job.id);
      let checked = 0;
      for (const r of ROUTES) {
        if (r.method !== "GET" || r.path === "/v1/session") continue;
        const res = await api.call("GET", fill(r.path), { as: "admin" });
        equal(res.status, 200, `${r.path}: ${JSON.stringify(res.body)}`);
        for (const f of r.fields) assert(f in res.body, `${r.path} answered without ${f}`);
        const list = r.fields.map((f) => res.body[f]).find(Array.isArray);
        for (const f of r.items ?? []) {
          if (list?.[0]) assert(f in list[0], `${r.path} items answered without ${f}`);
        }
        checked++;
      }
      assert(checked >= 10, `${checked} read routes checked`);
    });
  });
});
