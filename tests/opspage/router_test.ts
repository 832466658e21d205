import { deepEqual, equal } from "node:assert/strict";
import { isCurrent, match, parseHash } from "../../static/router.js";

Deno.test("parseHash() splits the path from its query, defaulting to the overview", () => {
  deepEqual(parseHash(""), { path: "/overview", params: {} });
  deepEqual(parseHash("#"), { path: "/overview", params: {} });
  deepEqual(parseHash("#/jobs?queue=a%20b&state=dead"), {
    path: "/jobs",
    params: { queue: "a b", state: "dead" },
  });
  deepEqual(parseHash("/queues/x"), { path: "/queues/x", params: {} });
});

Deno.test("match() picks the first matching route and decodes its captures", () => {
  const routes: [RegExp, string][] = [
    [/^\/queues$/, "list"],
    [/^\/queues\/([^/]+)$/, "one"],
    [/^\/jobs\/(\d+)$/, "job"],
  ];
  deepEqual(match(routes, "/queues"), { view: "list", args: [] });
  deepEqual(match(routes, "/queues/my%20queue"), { view: "one", args: ["my queue"] });
  deepEqual(match(routes, "/jobs/42"), { view: "job", args: ["42"] });
  equal(match(routes, "/jobs/abc"), null);
  equal(match(routes, "/nope"), null);
});

Deno.test("isCurrent() marks a nav entry for its page and its sub-pages only", () => {
  equal(isCurrent("jobs", "/jobs"), true);
  equal(isCurrent("jobs", "/jobs/42"), true);
  equal(isCurrent("jobs", "/jobsx"), false);
  equal(isCurrent("queues", "/jobs"), false);
});
