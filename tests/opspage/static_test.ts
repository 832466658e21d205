/**
 * The page's modules are all embedded and served under the strict CSP, and every import
 * between them resolves to a served path (a module left out of the map would 404 in the
 * browser and the page would not start).
 */
import { equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { OPS_PAGE_CSP, OPS_PAGE_PATHS, opsPageRouter } from "../../src/api/static.ts";

const STATIC = fileURLToPath(new URL("../../static/", import.meta.url));

Deno.test("every file in static/ is served, with the CSP, and module imports resolve", async () => {
  const app = opsPageRouter();
  const files = [...Deno.readDirSync(STATIC)].map((e) => e.name).sort();
  for (const f of files) assert(OPS_PAGE_PATHS.includes(`/${f}`), `static/${f} is not served`);
  for (const f of files.filter((f) => f.endsWith(".js"))) {
    const res = await app.request(`/${f}`);
    equal(res.status, 200, f);
    equal(res.headers.get("content-security-policy"), OPS_PAGE_CSP);
    equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
    const body = await res.text();
    equal(body, await Deno.readTextFile(`${STATIC}${f}`));
    for (const [, spec] of body.matchAll(/ from "\.\/([^"]+)"/g)) {
      assert(OPS_PAGE_PATHS.includes(`/${spec}`), `${f} imports ${spec}, which is not served`);
    }
  }
  const page = await (await app.request("/")).text();
  assert(page.includes('<script type="module" src="/app.js"></script>'));
  // Preloading every module fetches them at once rather than one import level at a time.
  for (const f of files.filter((f) => f.endsWith(".js") && f !== "app.js")) {
    assert(page.includes(`<link rel="modulepreload" href="/${f}">`), `${f} is not preloaded`);
  }
  assert(OPS_PAGE_CSP.includes("script-src 'self'"));
});
