// @ts-check
// Hash routes: "#/jobs/42?x=1" → a view and its arguments. DOM-free; app.js wires hashchange.
import { qs } from "./client.js";

/**
 * @param {string} hash location.hash, with or without the leading "#"
 * @returns {{ path: string, params: Record<string, string> }}
 */
export function parseHash(hash) {
  const raw = hash.replace(/^#/, "") || "/overview";
  const [path = "/overview", query = ""] = raw.split("?");
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

/**
 * The first route whose pattern matches, with its captures decoded, or null.
 * @template V
 * @param {[RegExp, V][]} routes
 * @param {string} path
 * @returns {{ view: V, args: string[] } | null}
 */
export function match(routes, path) {
  for (const [re, view] of routes) {
    const m = path.match(re);
    if (m) return { view, args: m.slice(1).map((s) => decodeURIComponent(s)) };
  }
  return null;
}

/** Whether a nav entry for `view` ("jobs") is the current page for `path` ("/jobs/42"). */
export const isCurrent = (/** @type {string} */ view, /** @type {string} */ path) =>
  path === `/${view}` || path.startsWith(`/${view}/`);

/**
 * Moves to a view from code (links use plain hrefs).
 * @param {string} path
 * @param {Record<string, unknown>} [params]
 */
export function navigate(path, params = {}) {
  location.hash = `#${path}${qs(params)}`;
}
