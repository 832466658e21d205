// Sluice ops page: plain ES modules, no build step, no dependencies. This module boots the
// page: session, routes, theme, keyboard. Views live in view_*.js, one per page.
import { client, onUnauthorized, session } from "./client.js";
import { $, h } from "./dom.js";
import { relative } from "./format.js";
import { refreshSoon, show, stop } from "./live.js";
import { isCurrent, match, navigate, parseHash } from "./router.js";
import { viewOverview } from "./view_overview.js";
import { viewQueues } from "./view_queues.js";
import { viewQueue } from "./view_queue.js";
import { viewJobs } from "./view_jobs.js";
import { viewJob } from "./view_job.js";
import { viewDlq } from "./view_dlq.js";
import { viewWorkers } from "./view_workers.js";
import { viewSchedules } from "./view_schedules.js";
import { viewTopics } from "./view_topics.js";
import { viewCircuits, viewDecisions } from "./view_circuits.js";
import { viewWorkflow, viewWorkflows } from "./view_workflows.js";
import { viewBatches } from "./view_batches.js";
import { viewTokens } from "./view_tokens.js";

const ROUTES = [
  [/^\/overview$/, viewOverview],
  [/^\/queues$/, viewQueues],
  [/^\/queues\/([^/]+)$/, viewQueue],
  [/^\/jobs$/, viewJobs],
  [/^\/jobs\/(\d+)$/, viewJob],
  [/^\/dlq$/, viewDlq],
  [/^\/workers$/, viewWorkers],
  [/^\/schedules$/, viewSchedules],
  [/^\/topics$/, viewTopics],
  [/^\/circuits$/, viewCircuits],
  [/^\/decisions$/, viewDecisions],
  [/^\/workflows$/, viewWorkflows],
  [/^\/workflows\/(\d+)$/, viewWorkflow],
  [/^\/batches$/, viewBatches],
  [/^\/tokens$/, viewTokens],
];

async function route() {
  if (!session.scope) return;
  const { path, params } = parseHash(location.hash);
  for (const a of document.querySelectorAll("#nav a")) {
    if (isCurrent(a.dataset.view, path)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  $("#top").classList.remove("menu-open");
  $("#menu").setAttribute("aria-expanded", "false");
  const found = match(ROUTES, path);
  if (!found) {
    stop();
    $("#view").replaceChildren(
      h(
        "div",
        { class: "empty" },
        "No such page. ",
        h("a", { href: "#/overview" }, "Go to the overview"),
      ),
    );
    return;
  }
  const container = h("div", { class: "view", dataset: { view: path } });
  $("#view").replaceChildren(container);
  await show(() => found.view(container, params, ...found.args));
  $("#main").focus({ preventScroll: true });
}

function onSignedIn(s) {
  Object.assign(session, { name: s.name, scope: s.scope, csrfToken: s.csrfToken });
  $("#signin").hidden = true;
  $("#top").hidden = false;
  $("#whoami").textContent = `${s.name} · ${s.scope}`;
  document.body.dataset.scope = s.scope;
  route();
}

/**
 * Why a session ended under the page (signed out in another tab, its token revoked with
 * `sluice token revoke`), in words with the server's code, or null for any other 401.
 */
function endedSession(err) {
  return err?.code === "SESSION_REVOKED" || err?.code === "TOKEN_REVOKED"
    ? `Your session ended: ${err.message} (${err.code})`
    : null;
}

function onSignedOut(reason = null) {
  const wasSignedIn = session.name !== null;
  Object.assign(session, { name: null, scope: null, csrfToken: null });
  // Say why instead of silently showing the sign-in form (e.g. `sluice token revoke`). A later
  // reasonless sign-out (a request that was already in flight) keeps the reason on screen.
  const err = $("#signin-error");
  if (reason || wasSignedIn) {
    err.textContent = reason ?? "";
    err.hidden = !reason;
  }
  stop();
  $("#top").hidden = true;
  $("#view").replaceChildren();
  $("#signin").hidden = false;
  delete document.body.dataset.scope;
  $("#token").focus();
}

function applyTheme(t) {
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}

const KEYS = {
  o: "overview",
  q: "queues",
  j: "jobs",
  d: "dlq",
  w: "workers",
  s: "schedules",
  c: "circuits",
  p: "decisions",
  t: "tokens",
};

/** "g" then a letter jumps to a view; "/" focuses the first search field. */
function keyboard() {
  let g = false;
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest?.("input, textarea, select") || ev.metaKey || ev.ctrlKey || ev.altKey) {
      return;
    }
    if (ev.key === "/") {
      const f = document.querySelector("#view input");
      if (f) {
        ev.preventDefault();
        f.focus();
      }
      return;
    }
    if (g) {
      g = false;
      if (KEYS[ev.key]) navigate(`/${KEYS[ev.key]}`);
      return;
    }
    g = ev.key === "g";
  });
}

function boot() {
  applyTheme(localStorage.getItem("sluice.theme"));
  $("#theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    localStorage.setItem("sluice.theme", next);
    applyTheme(next);
  });
  $("#menu").addEventListener("click", () => {
    const open = $("#top").classList.toggle("menu-open");
    $("#menu").setAttribute("aria-expanded", String(open));
  });
  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#signin-error");
    err.hidden = true;
    const input = $("#token");
    try {
      const s = await client.signIn(input.value.trim());
      input.value = "";
      onSignedIn(s);
    } catch (e) {
      err.textContent = `${e.code}: ${e.message}`;
      err.hidden = false;
    }
  });
  $("#signout").addEventListener("click", async () => {
    try {
      await client.signOut();
    } catch { /* signed out either way */ }
    onSignedOut();
  });
  // A 401 while signed in: the session ended under the page. Without a revocation code the
  // cookie is gone (signed out in another tab) or expired.
  onUnauthorized((e) =>
    onSignedOut(
      endedSession(e) ??
        `Your session ended: it expired or was signed out in another tab. Sign in again (${e.code})`,
    )
  );
  addEventListener("hashchange", () => route());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshSoon();
  });
  // Back from an outage the browser noticed: fetch now instead of after the backoff.
  addEventListener("online", () => refreshSoon());
  keyboard();
  setInterval(() => {
    for (const t of document.querySelectorAll("time[datetime]")) {
      t.textContent = relative(t.getAttribute("datetime"));
    }
  }, 15_000);
  // The answer can arrive after a sign-in through the form (a slow first request): it then
  // describes the cookie the page had before, and must not sign the new session out.
  const before = session.name;
  client.session().then(onSignedIn, (e) => {
    if (session.name === before) onSignedOut(endedSession(e));
  });
}

boot();
