/**
 * The ops page (`static/`), embedded into the program by text imports so it works from the
 * bundle with no files on disk. Only the fixed map below is ever served: no path from the
 * request reaches the filesystem, so path traversal is impossible by construction.
 */
import { Hono } from "hono";
import indexHtml from "../../static/index.html" with { type: "text" };
import appJs from "../../static/app.js" with { type: "text" };
import chartJs from "../../static/chart.js" with { type: "text" };
import clientJs from "../../static/client.js" with { type: "text" };
import domJs from "../../static/dom.js" with { type: "text" };
import formatJs from "../../static/format.js" with { type: "text" };
import liveJs from "../../static/live.js" with { type: "text" };
import routerJs from "../../static/router.js" with { type: "text" };
import viewcircuitsJs from "../../static/view_circuits.js" with { type: "text" };
import viewdlqJs from "../../static/view_dlq.js" with { type: "text" };
import viewjobJs from "../../static/view_job.js" with { type: "text" };
import viewjobsJs from "../../static/view_jobs.js" with { type: "text" };
import viewoverviewJs from "../../static/view_overview.js" with { type: "text" };
import overviewTelemetryJs from "../../static/overview_telemetry.js" with { type: "text" };
import viewqueueJs from "../../static/view_queue.js" with { type: "text" };
import viewqueuesJs from "../../static/view_queues.js" with { type: "text" };
import viewschedulesJs from "../../static/view_schedules.js" with { type: "text" };
import viewtopicsJs from "../../static/view_topics.js" with { type: "text" };
import viewtokensJs from "../../static/view_tokens.js" with { type: "text" };
import viewidentitiesJs from "../../static/view_identities.js" with { type: "text" };
import viewworkersJs from "../../static/view_workers.js" with { type: "text" };
import graphJs from "../../static/graph.js" with { type: "text" };
import viewworkflowsJs from "../../static/view_workflows.js" with { type: "text" };
import viewbatchesJs from "../../static/view_batches.js" with { type: "text" };
import appCss from "../../static/app.css" with { type: "text" };

/**
 * Strict: scripts and styles only from this origin (no inline script, no eval), API calls
 * only to this origin, no framing, no plugins, no form posts elsewhere.
 */
export const OPS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

interface Asset {
  body: string;
  type: string;
  etag: string;
}

async function asset(body: string, type: string): Promise<Asset> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
  const hex = Array.from(
    new Uint8Array(digest).slice(0, 12),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  return { body, type, etag: `"${hex}"` };
}

/** The page's ES modules by URL path; app.js imports the rest (no build step). */
const MODULES: Record<string, string> = {
  "/app.js": appJs,
  "/chart.js": chartJs,
  "/client.js": clientJs,
  "/dom.js": domJs,
  "/format.js": formatJs,
  "/live.js": liveJs,
  "/router.js": routerJs,
  "/view_circuits.js": viewcircuitsJs,
  "/view_dlq.js": viewdlqJs,
  "/view_job.js": viewjobJs,
  "/view_jobs.js": viewjobsJs,
  "/view_overview.js": viewoverviewJs,
  "/overview_telemetry.js": overviewTelemetryJs,
  "/view_queue.js": viewqueueJs,
  "/view_queues.js": viewqueuesJs,
  "/view_schedules.js": viewschedulesJs,
  "/view_topics.js": viewtopicsJs,
  "/view_tokens.js": viewtokensJs,
  "/view_identities.js": viewidentitiesJs,
  "/view_workers.js": viewworkersJs,
  "/graph.js": graphJs,
  "/view_workflows.js": viewworkflowsJs,
  "/view_batches.js": viewbatchesJs,
};

const ASSETS: Promise<Record<string, Asset>> = (async () => ({
  "/": await asset(indexHtml, "text/html; charset=utf-8"),
  "/app.css": await asset(appCss, "text/css; charset=utf-8"),
  ...Object.fromEntries(
    await Promise.all(
      Object.entries(MODULES).map(async ([path, body]) =>
        [path, await asset(body, "text/javascript; charset=utf-8")] as const
      ),
    ),
  ),
}))();

/** Paths the ops page answers; anything else falls through to the API's 404. */
export const OPS_PAGE_PATHS: readonly string[] = [
  "/",
  "/index.html",
  "/app.css",
  ...Object.keys(MODULES),
];

/**
 * Serves the page. Assets revalidate on every load (`no-cache` + ETag → 304), so an upgrade
 * is picked up at once without a cache-busting build step; the bodies are small.
 */
export function opsPageRouter(): Hono {
  const r = new Hono();
  for (const path of OPS_PAGE_PATHS) {
    r.get(path, async (c) => {
      const a = (await ASSETS)[path === "/index.html" ? "/" : path]!;
      const headers: Record<string, string> = {
        "content-type": a.type,
        "cache-control": "no-cache",
        etag: a.etag,
        "content-security-policy": OPS_PAGE_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
      };
      if (c.req.header("if-none-match") === a.etag) {
        return new Response(null, { status: 304, headers });
      }
      return new Response(a.body, { status: 200, headers });
    });
  }
  return r;
}
