// Sluice ops page: one plain ES module, no build step, no dependencies.
// Rendering builds DOM nodes with `h()` (never innerHTML with data), so job payloads and error
// messages cannot inject markup. Every API call goes through `api()`, which sends the CSRF
// header on state-changing requests and turns `{"error":{code,message}}` into an ApiError.

const POLL_MS = 5_000;
const HIDDEN_POLL_MS = 30_000;
const MAX_BACKOFF_MS = 60_000;
const HISTORY_MS = 3_600_000;
const STATES = ["scheduled", "available", "running", "retrying", "succeeded", "dead", "cancelled"];
const WAITING = ["scheduled", "available", "retrying"];

// ------------------------------------------------------------------------------------------
// Session and API

const session = { name: null, scope: null, csrfToken: null };
const canMutate = () => session.scope === "admin";

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && session.csrfToken) headers["x-csrf-token"] = session.csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "NETWORK_ERROR", `the API did not answer (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error;
    if (res.status === 401 && !path.startsWith("/v1/session")) onSignedOut(endedSession(err));
    throw new ApiError(
      res.status,
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? (text.slice(0, 200) || res.statusText),
      err?.details,
    );
  }
  return data;
}

/** A GET whose 404 means "this build has no such route" rather than an error. */
async function optional(path) {
  try {
    return { ok: true, data: await api("GET", path) };
  } catch (e) {
    if (e.status === 404 && (e.code === "NOT_FOUND" || e.code === "HTTP_404")) {
      return { ok: false, missing: true };
    }
    return { ok: false, error: e };
  }
}

const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
};

// ------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && !svg && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const $ = (sel) => document.querySelector(sel);

function chip(state, text) {
  return h("span", { class: `chip s-${String(state).replace(/[^a-z-]/g, "")}` }, text ?? state);
}

function toast(message, bad = false) {
  const t = h("div", { class: `toast${bad ? " bad" : ""}` }, message);
  $("#toasts").append(t);
  setTimeout(() => t.remove(), bad ? 9_000 : 5_000);
}

function errorBox(e) {
  return h(
    "div",
    { class: "banner bad", role: "alert" },
    h("strong", {}, e.code ?? "ERROR"),
    " ",
    e.message,
  );
}

function confirmDialog(title, body, okLabel = "Confirm") {
  const dlg = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-body").textContent = body;
  $("#confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
    $("#confirm-ok").focus();
  });
}

/** Runs a state-changing call with confirmation, a toast, and a refresh of the view. */
async function act({ confirm, run, done }) {
  if (confirm && !(await confirmDialog(confirm.title, confirm.body, confirm.ok))) return null;
  try {
    const r = await run();
    if (done) toast(typeof done === "function" ? done(r) : done);
    refreshSoon();
    return r;
  } catch (e) {
    toast(`${e.code}: ${e.message}`, true);
    return null;
  }
}

function mutateButton(label, opts, cls = "") {
  if (!canMutate()) return null;
  return h("button", {
    type: "button",
    class: cls,
    onclick: (ev) => {
      ev.currentTarget.disabled = true;
      const b = ev.currentTarget;
      act(opts).finally(() => (b.disabled = false));
    },
  }, label);
}

// ------------------------------------------------------------------------------------------
// Time and numbers

function relative(iso) {
  if (!iso) return "—";
  const ms = Date.parse(iso) - Date.now();
  const abs = Math.abs(ms);
  const units = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "m"], [1_000, "s"]];
  for (const [size, u] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      return ms < 0 ? `${n}${u} ago` : `in ${n}${u}`;
    }
  }
  return "just now";
}

function absolute(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.toLocaleString()} (${d.toISOString()})`;
}

/** Relative text with the absolute time in a tooltip and the datetime attribute. */
function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: absolute(iso) }, relative(iso));
}

function age(ms) {
  if (ms == null) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

const fmt = (n) => (n == null ? "—" : Number(n).toLocaleString());

// ------------------------------------------------------------------------------------------
// Normalizing what the API returns (tolerant of small shape differences between builds)

function queueCounts(q) {
  const c = q.counts ?? q.jobs ?? q.states ?? {};
  return Object.fromEntries(STATES.map((s) => [s, Number(c[s] ?? 0)]));
}

function list(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of keys) if (Array.isArray(data?.[k])) return data[k];
  return [];
}

// Queues with their counts: /v1/queues, enriched by /v1/ops/queues when this build has it.
async function loadQueues() {
  const [queues, ops] = await Promise.all([api("GET", "/v1/queues"), optional("/v1/ops/queues")]);
  const rows = list(queues, "queues");
  const opsRows = ops.ok ? list(ops.data, "queues") : [];
  const byName = new Map(opsRows.map((o) => [o.name ?? o.queue, o]));
  return {
    queues: rows.map((q) => {
      const o = byName.get(q.name) ?? {};
      const merged = { ...o, ...q };
      if (!q.counts && o.counts) merged.counts = o.counts;
      return merged;
    }),
    ops: ops.ok ? ops.data : null,
  };
}

// GET /v1/queues gives oldestWaitingMs (at answer time) and oldestWaitingAt; /v1/ops/queues
// gives oldestWaitingSeconds.
function oldestWaitingMs(q) {
  if (q.oldestWaitingAt) return Math.max(0, Date.now() - Date.parse(q.oldestWaitingAt));
  if (q.oldestWaitingMs != null) return Number(q.oldestWaitingMs);
  return q.oldestWaitingSeconds != null ? Number(q.oldestWaitingSeconds) * 1000 : null;
}

// Client-side history of queue depth: sampled at each poll, kept for an hour in sessionStorage
// so a reload keeps the chart.
const history = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem("sluice.depth") ?? "[]");
    } catch {
      return [];
    }
  },
  add(queues) {
    const now = Date.now();
    const samples = this.load().filter((s) => s.t > now - HISTORY_MS);
    const last = samples.at(-1);
    if (!last || now - last.t > 4_000) {
      const point = { t: now, q: {} };
      for (const q of queues) {
        const c = queueCounts(q);
        point.q[q.name] = {
          waiting: WAITING.reduce((a, s) => a + c[s], 0),
          running: c.running,
          succeeded: c.succeeded,
          dead: c.dead,
        };
      }
      samples.push(point);
    }
    sessionStorage.setItem("sluice.depth", JSON.stringify(samples));
    return samples;
  },
};

// ------------------------------------------------------------------------------------------
// Charts: inline SVG, no library

const PALETTE = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bf3989"];

function lineChart({ series, xMin, xMax, yLabel, height = 160, percent = false }) {
  const W = 600, H = height, L = 40, R = 8, T = 8, B = 20;
  let yMax = 0;
  for (const s of series) for (const [, y] of s.points) yMax = Math.max(yMax, y);
  if (percent) yMax = Math.max(yMax, 0.05);
  yMax = yMax || 1;
  const x = (v) => L + ((v - xMin) / Math.max(1, xMax - xMin)) * (W - L - R);
  const y = (v) => T + (1 - v / yMax) * (H - T - B);
  const svg = h("svg:svg", {
    class: "chart",
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": yLabel,
  });
  svg.append(
    h("svg:line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    h("svg:line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    h("svg:text", { x: 2, y: T + 8 }, percent ? `${Math.round(yMax * 100)}%` : fmt(yMax)),
    h("svg:text", { x: 2, y: H - B }, "0"),
    h("svg:text", { x: L, y: H - 4 }, new Date(xMin).toLocaleTimeString()),
    h("svg:text", { x: W - R - 60, y: H - 4 }, new Date(xMax).toLocaleTimeString()),
  );
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map(([px, py], j) =>
      `${j ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`
    )
      .join("");
    svg.append(h("svg:path", {
      d,
      fill: "none",
      stroke: s.color ?? PALETTE[i % PALETTE.length],
      "stroke-width": 2,
      "vector-effect": "non-scaling-stroke",
    }, h("svg:title", {}, s.name)));
  });
  const legend = h(
    "div",
    { class: "legend" },
    series.map((s, i) => h("span", {}, swatch(s.color ?? PALETTE[i % PALETTE.length]), s.name)),
  );
  return h("div", {}, svg, legend);
}

function swatch(color) {
  const el = h("span", { class: "swatch" });
  el.style.background = color;
  return el;
}

// ------------------------------------------------------------------------------------------
// Router and polling

const routes = [
  [/^\/overview$/, viewOverview],
  [/^\/queues$/, viewQueues],
  [/^\/queues\/([^/]+)$/, viewQueue],
  [/^\/jobs$/, viewJobs],
  [/^\/jobs\/(\d+)$/, viewJob],
  [/^\/dlq$/, viewDlq],
  [/^\/workers$/, viewWorkers],
  [/^\/schedules$/, viewSchedules],
  [/^\/circuits$/, viewCircuits],
  [/^\/decisions$/, viewDecisions],
];

let current = null; // { refresh, key }
let timer = null;
let failures = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/overview";
  const [path, query = ""] = raw.split("?");
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

function navigate(path, params = {}) {
  location.hash = `#${path}${qs(params)}`;
}

async function route() {
  if (!session.scope) return;
  const { path, params } = parseHash();
  const view = $("#view");
  for (const a of document.querySelectorAll("#nav a")) {
    const on = path === `/${a.dataset.view}` || path.startsWith(`/${a.dataset.view}/`);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, fn] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const container = h("div", { class: "view", dataset: { view: path } });
    view.replaceChildren(container);
    const refresh = () => fn(container, params, ...m.slice(1).map(decodeURIComponent));
    current = { refresh, key: location.hash };
    failures = 0;
    await runRefresh(true);
    $("#main").focus({ preventScroll: true });
    return;
  }
  view.replaceChildren(
    h(
      "div",
      { class: "empty" },
      "No such page. ",
      h("a", { href: "#/overview" }, "Go to the overview"),
    ),
  );
}

async function runRefresh(first = false) {
  clearTimeout(timer);
  if (!current) return;
  const mine = current;
  const live = $("#live");
  try {
    await mine.refresh(first);
    failures = 0;
    live.className = document.hidden ? "live paused" : "live";
    live.title = `Live: updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    failures++;
    live.className = "live error";
    live.title = `Update failed: ${e.code ?? ""} ${e.message}`;
    if (first || e.status === 0) {
      const c = $("#view .view");
      c?.replaceChildren(errorBox(e));
    }
  }
  if (current !== mine) return;
  const base = document.hidden ? HIDDEN_POLL_MS : POLL_MS;
  const delay = Math.min(MAX_BACKOFF_MS, base * 2 ** failures);
  timer = setTimeout(() => runRefresh(false), delay);
}

function refreshSoon() {
  clearTimeout(timer);
  timer = setTimeout(() => runRefresh(false), 150);
}

/**
 * Re-renders a section in place only when its content changed, so polling does not steal
 * focus, reset scroll or clear what an operator is typing elsewhere on the page.
 */
function section(container, id, build) {
  const old = container.querySelector(`[data-section="${id}"]`);
  const fresh = h("div", { dataset: { section: id } }, build());
  if (!old) {
    container.append(fresh);
    return;
  }
  // Keep a form the operator is using (focused, or edited and not yet saved).
  const form = old.querySelector("form");
  if (form && (old.contains(document.activeElement) || form.dataset.dirty)) return;
  if (old.innerHTML !== fresh.innerHTML) old.replaceWith(fresh);
}

// ------------------------------------------------------------------------------------------
// Views

async function viewOverview(c) {
  const [{ queues, ops }, workersR, alertsR, statsR] = await Promise.all([
    loadQueues(),
    optional("/v1/workers"),
    optional("/v1/ops/alerts"),
    optional("/v1/stats/throughput?window=1h"),
  ]);
  const samples = history.add(queues);
  const workers = workersR.ok ? list(workersR.data, "workers") : [];
  const online = workers.filter((w) => (w.state ?? "online") === "online");
  const totals = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const q of queues) for (const [s, n] of Object.entries(queueCounts(q))) totals[s] += n;

  let status = ops?.status;
  const reasons = [...(ops?.reasons ?? [])];
  if (!status) {
    // No /v1/ops/queues in this build: derive the status from what we have.
    status = "online";
    if (online.length === 0 && totals.available > 0) {
      status = "degraded";
      reasons.push("jobs are waiting and no worker is online");
    }
    const paused = queues.filter((q) => q.paused).map((q) => q.name);
    if (paused.length) reasons.push(`paused: ${paused.join(", ")}`);
  }

  c.querySelector("h1") ?? c.append(h("h1", {}, "Overview"));
  section(c, "status", () =>
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "panel stat" },
        h("div", { class: "label" }, "Status"),
        h("div", { class: `big s-${status}` }, status),
        reasons.length ? h("div", { class: "muted" }, reasons.join("; ")) : null,
      ),
      h(
        "div",
        { class: "panel stat" },
        h("div", { class: "label" }, "Workers online"),
        h("div", { class: "big" }, workersR.ok ? fmt(online.length) : "—"),
        workersR.ok ? null : h("div", { class: "muted" }, "workers not available in this build"),
      ),
      h(
        "div",
        { class: "panel stat" },
        h("div", { class: "label" }, "Waiting / running"),
        h(
          "div",
          { class: "big" },
          `${fmt(WAITING.reduce((a, s) => a + totals[s], 0))} / ${fmt(totals.running)}`,
        ),
      ),
      h(
        "div",
        { class: "panel stat" },
        h("div", { class: "label" }, "Dead letters"),
        h("div", { class: `big${totals.dead ? " s-dead" : ""}` }, fmt(totals.dead)),
        h("a", { href: "#/dlq" }, "Open the dead-letter queue"),
      ),
    ));

  section(c, "alerts", () => {
    if (!alertsR.ok) {
      return [
        h("h2", {}, "Alerts"),
        h(
          "p",
          { class: "muted" },
          alertsR.missing
            ? "Alerts are not available in this build."
            : `${alertsR.error.code}: ${alertsR.error.message}`,
        ),
      ];
    }
    // GET /v1/ops/alerts: {firing, pending, recent}
    const firing = list(alertsR.data, "firing");
    const pending = list(alertsR.data, "pending");
    const columns = ["name", "subject", "value", "threshold", "firedAt", "pendingSince"];
    const rows = (xs) => xs.map((a) => Object.fromEntries(columns.map((k) => [k, a[k]])));
    return [
      h("h2", {}, "Firing alerts"),
      firing.length === 0
        ? h("p", { class: "muted", dataset: { alerts: "none" } }, "No alert is firing.")
        : objectTable(rows(firing), columns),
      pending.length === 0 ? null : h(
        "p",
        { class: "muted" },
        `Pending: ${
          pending.map((a) => a.subject ? `${a.name} (${a.subject})` : a.name).join(", ")
        }`,
      ),
    ];
  });

  // Throughput and failure rate: the server's per-minute buckets when this build has them,
  // otherwise deltas of the succeeded/dead counters sampled by this page.
  let tp, fr;
  const now = Date.now();
  if (statsR.ok) {
    const b = list(statsR.data, "buckets");
    const pts = (f) => b.map((x) => [Date.parse(x.at), f(x)]);
    tp = [
      { name: "succeeded / min", points: pts((x) => x.succeeded ?? 0), color: "#1a7f37" },
      { name: "dead / min", points: pts((x) => x.dead ?? 0), color: "#cf222e" },
      { name: "failed attempts / min", points: pts((x) => x.failed ?? 0), color: "#9a6700" },
    ];
    fr = [{
      name: "failure rate (failed attempts + dead) / finished attempts",
      points: pts((x) => {
        const bad = (x.failed ?? 0) + (x.dead ?? 0);
        const all = bad + (x.succeeded ?? 0);
        return all ? bad / all : 0;
      }),
      color: "#cf222e",
    }];
  } else {
    const sum = (p, k) => Object.values(p.q).reduce((a, v) => a + (v[k] ?? 0), 0);
    const pts = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1], b = samples[i];
      const mins = (b.t - a.t) / 60_000;
      const ok = Math.max(0, sum(b, "succeeded") - sum(a, "succeeded")) / mins;
      const dead = Math.max(0, sum(b, "dead") - sum(a, "dead")) / mins;
      pts.push([b.t, ok, dead]);
    }
    tp = [
      { name: "succeeded / min", points: pts.map((p) => [p[0], p[1]]), color: "#1a7f37" },
      { name: "dead / min", points: pts.map((p) => [p[0], p[2]]), color: "#cf222e" },
    ];
    fr = [{
      name: "dead / finished",
      points: pts.map((p) => [p[0], p[1] + p[2] ? p[2] / (p[1] + p[2]) : 0]),
      color: "#cf222e",
    }];
  }
  const names = queues.map((q) => q.name).slice(0, 7);
  const depth = names.map((n, i) => ({
    name: `${n} waiting`,
    points: samples.filter((s) => s.q[n]).map((s) => [s.t, s.q[n].waiting]),
    color: PALETTE[i % PALETTE.length],
  }));
  section(c, "charts", () =>
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Throughput, last hour"),
        lineChart({ series: tp, xMin: now - HISTORY_MS, xMax: now, yLabel: "jobs per minute" }),
        statsR.ok ? null : h(
          "p",
          { class: "hint" },
          "Sampled by this page since it opened (no /v1/stats/throughput in this build).",
        ),
      ),
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Failure rate"),
        lineChart({
          series: fr,
          xMin: now - HISTORY_MS,
          xMax: now,
          yLabel: "failure rate",
          percent: true,
        }),
      ),
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Queue depth"),
        lineChart({ series: depth, xMin: now - HISTORY_MS, xMax: now, yLabel: "jobs waiting" }),
        h("p", { class: "hint" }, "Sampled every 5 s while this page is open."),
      ),
    ));
  section(c, "queues", () => [h("h2", {}, "Queues"), queuesTable(queues)]);
}

function queuesTable(queues) {
  if (queues.length === 0) {
    return h(
      "div",
      { class: "empty panel" },
      "No queues yet. Create one with ",
      h("code", {}, "sluice queue create NAME"),
      " or POST /v1/queues.",
    );
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { dataset: { table: "queues" } },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Queue"),
          STATES.map((s) =>
            h("th", {
              class: `num${
                WAITING.includes(s) || s === "running" || s === "dead" ? "" : " hide-narrow"
              }`,
            }, s)
          ),
          h("th", { class: "num" }, "Oldest waiting"),
          h("th", {}, "Paused"),
        ),
      ),
      h(
        "tbody",
        {},
        queues.map((q) => {
          const cnt = queueCounts(q);
          return h(
            "tr",
            { dataset: { queue: q.name } },
            h("td", {}, h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name)),
            STATES.map((s) =>
              h(
                "td",
                {
                  class: `num${
                    WAITING.includes(s) || s === "running" || s === "dead" ? "" : " hide-narrow"
                  }`,
                  dataset: { state: s },
                },
                cnt[s]
                  ? h("a", { href: `#/jobs${qs({ queue: q.name, state: s })}` }, fmt(cnt[s]))
                  : "0",
              )
            ),
            h("td", { class: "num" }, age(oldestWaitingMs(q))),
            h("td", { dataset: { paused: String(!!q.paused) } }, q.paused ? chip("paused") : "no"),
          );
        }),
      ),
    ),
  );
}

async function viewQueues(c) {
  const { queues } = await loadQueues();
  history.add(queues);
  c.querySelector("h1") ?? c.append(h("h1", {}, "Queues"));
  section(c, "table", () => queuesTable(queues));
}

// Policy form: field → how to show and parse it. Numbers: empty = no limit (null).
const POLICY_FIELDS = [
  ["concurrency", "Concurrency (all workers)", "int"],
  ["rateLimit", "Rate limit (count/per, e.g. 100/1m)", "rate"],
  ["maxPayloadBytes", "Max payload bytes", "int"],
  ["maxEnqueuePerMinute", "Max enqueues per minute", "int"],
  ["maxQueueSize", "Max queue size", "int"],
  ["maxAttempts", "Default max attempts", "int!"],
  ["backoff", "Backoff (base,max e.g. 1s,1h)", "backoff"],
  ["timeout", "Timeout (e.g. 30s)", "duration"],
  ["retention", "Retention (e.g. 7d)", "duration"],
];

function policyValue(q, key) {
  return q[key] !== undefined ? q[key] : q.effective?.[key] ?? q.policy?.[key];
}

function policyText(kind, v) {
  if (v == null) return "";
  if (kind === "rate") return `${v.count}/${v.per ?? v.perMs}`;
  if (kind === "backoff") return `${v.base ?? v.baseMs},${v.max ?? v.maxMs}`;
  return String(v);
}

function parsePolicy(kind, text) {
  const t = text.trim();
  if (t === "" || t === "none") return null;
  if (kind === "int" || kind === "int!") {
    if (!/^\d+$/.test(t)) throw new Error(`'${t}' is not a whole number`);
    return Number(t);
  }
  if (kind === "rate") {
    const [count, per] = t.split("/");
    if (!/^\d+$/.test(count ?? "") || !per) throw new Error(`'${t}' is not COUNT/DURATION`);
    return { count: Number(count), per: /^\d+$/.test(per) ? Number(per) : per };
  }
  if (kind === "backoff") {
    const [base, max] = t.split(",").map((s) => s.trim());
    if (!base || !max) throw new Error(`'${t}' is not BASE,MAX`);
    return {
      base: /^\d+$/.test(base) ? Number(base) : base,
      max: /^\d+$/.test(max) ? Number(max) : max,
    };
  }
  return /^\d+$/.test(t) ? Number(t) : t;
}

async function viewQueue(c, _params, name) {
  const [q, { queues }, jobs] = await Promise.all([
    api("GET", `/v1/queues/${encodeURIComponent(name)}`).then((r) => r.queue ?? r),
    loadQueues(),
    api("GET", `/v1/jobs${qs({ queue: name, limit: 20 })}`),
  ]);
  const counted = queues.find((x) => x.name === name) ?? q;
  const enc = encodeURIComponent(name);
  c.querySelector("h1") ??
    c.append(h("h1", {}, h("a", { href: "#/queues" }, "Queues"), " / ", name));
  section(c, "head", () =>
    h(
      "div",
      { class: "spread" },
      h(
        "div",
        { class: "row" },
        q.paused ? chip("paused", "paused") : chip("online", "running"),
        STATES.map((s) => h("span", { class: "chip" }, `${s} ${fmt(queueCounts(counted)[s])}`)),
        h("span", { class: "muted" }, `oldest waiting ${age(oldestWaitingMs(counted))}`),
      ),
      h(
        "div",
        { class: "row" },
        q.paused
          ? mutateButton("Resume", {
            run: () => api("POST", `/v1/queues/${enc}/resume`),
            done: `Queue ${name} resumed`,
          }, "primary")
          : mutateButton("Pause", {
            confirm: {
              title: `Pause ${name}?`,
              body: "Workers stop leasing its jobs; enqueues are still accepted.",
              ok: "Pause",
            },
            run: () => api("POST", `/v1/queues/${enc}/pause`),
            done: `Queue ${name} paused`,
          }),
        mutateButton("Drain", {
          confirm: {
            title: `Drain ${name}?`,
            body:
              "Pauses the queue so no new job starts; running jobs finish and waiting jobs stay for when it resumes. Press Drain again to see whether it is empty.",
            ok: "Drain",
          },
          run: () => api("POST", `/v1/queues/${enc}/drain`),
          done: (r) =>
            r?.drained
              ? `Queue ${name} is drained: paused, nothing running`
              : `Queue ${name} paused; ${fmt(r?.counts?.running ?? 0)} jobs still running`,
        }, "danger"),
      ),
    ));
  section(c, "policy", () => policyForm(q, name));
  section(c, "jobs", () => [
    h(
      "h2",
      {},
      "Recent jobs ",
      h("a", { href: `#/jobs${qs({ queue: name })}`, class: "hint" }, "search all"),
    ),
    jobsTable(list(jobs, "jobs")),
  ]);
}

function policyForm(q, name) {
  const ro = !canMutate();
  const delivery = policyValue(q, "delivery") ?? { mode: "inline" };
  const inputs = {};
  const fields = POLICY_FIELDS.map(([key, label, kind]) => {
    const id = `p-${key}`;
    inputs[key] = h("input", {
      id,
      name: key,
      value: policyText(kind, policyValue(q, key)),
      readOnly: ro,
      placeholder: kind === "int!" ? "" : "no limit",
    });
    return h("div", { class: "field" }, h("label", { for: id }, label), inputs[key]);
  });
  const mode = h(
    "select",
    { id: "p-mode", disabled: ro },
    ["inline", "exec", "http", "pull"].map((m) =>
      h("option", { value: m, selected: delivery.mode === m }, m)
    ),
  );
  const target = h("input", {
    id: "p-target",
    value: delivery.url ??
      (Array.isArray(delivery.command) ? delivery.command.join(" ") : delivery.command) ?? "",
    readOnly: ro,
    placeholder: "URL (http) or command (exec)",
  });
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    {
      class: "panel",
      oninput: () => (form.dataset.dirty = "1"),
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.hidden = true;
        const patch = {};
        try {
          for (const [key, , kind] of POLICY_FIELDS) {
            const before = policyText(kind, policyValue(q, key));
            if (inputs[key].value.trim() !== before) {
              patch[key] = parsePolicy(kind, inputs[key].value);
            }
          }
          const m = mode.value;
          const tgt = target.value.trim();
          if (m !== delivery.mode || tgt !== (delivery.url ?? delivery.command ?? "")) {
            patch.delivery = m === "http"
              ? { mode: m, url: tgt }
              : m === "exec"
              ? { mode: m, command: tgt }
              : { mode: m };
          }
        } catch (e) {
          err.textContent = e.message;
          err.hidden = false;
          return;
        }
        if (Object.keys(patch).length === 0) return toast("Nothing changed");
        const r = await act({
          run: () => api("PATCH", `/v1/queues/${encodeURIComponent(name)}`, patch),
          done: `Saved policies of ${name}`,
        });
        if (r) delete form.dataset.dirty; // the refresh re-renders it from the saved values
      },
    },
    h("h2", {}, "Policies"),
    h(
      "div",
      { class: "policy" },
      fields,
      h("div", { class: "field" }, h("label", { for: "p-mode" }, "Delivery mode"), mode),
      h("div", { class: "field" }, h("label", { for: "p-target" }, "Delivery target"), target),
    ),
    err,
    ro
      ? h(
        "p",
        { class: "hint" },
        "Read-only session: sign in with an admin token to change policies.",
      )
      : h(
        "div",
        { class: "row end" },
        h("button", { type: "submit", class: "primary" }, "Save policies"),
      ),
  );
  return form;
}

function jobsTable(jobs, { select } = {}) {
  if (jobs.length === 0) {
    return h(
      "div",
      { class: "empty panel" },
      "No jobs match. Enqueue one with ",
      h("code", {}, "sluice jobs enqueue --queue default --kind sluice.noop"),
      " or POST /v1/jobs, or clear the filters.",
    );
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { dataset: { table: "jobs" } },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          select ? h("th", {}, h("span", { class: "muted" }, "✓")) : null,
          h("th", {}, "Id"),
          h("th", {}, "Queue"),
          h("th", {}, "Kind"),
          h("th", {}, "State"),
          h("th", { class: "num" }, "Attempt"),
          h("th", { class: "hide-narrow" }, "Last error"),
          h("th", {}, "Created"),
        ),
      ),
      h(
        "tbody",
        {},
        jobs.map((j) =>
          h(
            "tr",
            { dataset: { job: j.id } },
            select ? h("td", {}, select(j)) : null,
            h("td", { class: "mono" }, h("a", { href: `#/jobs/${j.id}` }, j.id)),
            h("td", {}, j.queue),
            h("td", { class: "mono" }, j.kind),
            h(
              "td",
              {},
              chip(j.state),
              j.deadReason ? h("span", { class: "muted" }, ` ${j.deadReason}`) : null,
            ),
            h("td", { class: "num" }, `${j.attempt}/${j.maxAttempts}`),
            h(
              "td",
              { class: "hide-narrow" },
              j.lastError ? `${j.lastError.code}: ${j.lastError.message}`.slice(0, 120) : "",
            ),
            h("td", {}, time(j.createdAt)),
          )
        ),
      ),
    ),
  );
}

async function viewJobs(c, params) {
  const filters = ["id", "queue", "state", "kind", "tag", "retryOf"];
  if (!c.querySelector("form.filters")) {
    c.append(h("h1", {}, "Jobs"));
    const fields = {};
    const mk = (k, label, el) => {
      fields[k] = el;
      return h("div", { class: "field" }, h("label", { for: `f-${k}` }, label), el);
    };
    const form = h(
      "form",
      {
        class: "filters",
        role: "search",
        onsubmit: (ev) => {
          ev.preventDefault();
          const id = fields.id.value.trim();
          if (id) return navigate(`/jobs/${id}`);
          navigate(
            "/jobs",
            Object.fromEntries(filters.slice(1).map((k) => [k, fields[k].value.trim()])),
          );
        },
      },
      mk("id", "Job id", h("input", { id: "f-id", inputmode: "numeric", placeholder: "go to id" })),
      mk("queue", "Queue", h("input", { id: "f-queue", value: params.queue ?? "" })),
      mk(
        "state",
        "State",
        h(
          "select",
          { id: "f-state" },
          h("option", { value: "" }, "any"),
          STATES.map((s) => h("option", { value: s, selected: params.state === s }, s)),
        ),
      ),
      mk("kind", "Kind", h("input", { id: "f-kind", value: params.kind ?? "" })),
      mk("tag", "Tag", h("input", { id: "f-tag", value: params.tag ?? "" })),
      mk("retryOf", "Re-runs of job", h("input", { id: "f-retryOf", value: params.retryOf ?? "" })),
      h("button", { type: "submit", class: "primary" }, "Search"),
    );
    c.append(form);
  }
  const page = await api(
    "GET",
    `/v1/jobs${
      qs({
        queue: params.queue,
        state: params.state,
        kind: params.kind,
        tag: params.tag,
        retryOf: params.retryOf,
        before: params.before,
        limit: 50,
      })
    }`,
  );
  const jobs = list(page, "jobs");
  const next = page?.nextCursor ?? page?.next ?? null;
  section(c, "results", () => [
    jobsTable(jobs),
    h(
      "div",
      { class: "row pager" },
      params.before
        ? h("a", { class: "button", href: `#/jobs${qs({ ...params, before: null })}` }, "⇤ Newest")
        : null,
      next
        ? h("a", {
          class: "button",
          href: `#/jobs${qs({ ...params, before: next })}`,
          dataset: { next },
        }, "Older →")
        : null,
    ),
  ]);
}

async function viewJob(c, _params, id) {
  const [jobR, tlR, exR, kids] = await Promise.all([
    api("GET", `/v1/jobs/${id}`),
    optional(`/v1/jobs/${id}/timeline`),
    optional(`/v1/jobs/${id}/explain`),
    api("GET", `/v1/jobs${qs({ retryOf: id, limit: 50 })}`),
  ]);
  const job = jobR.job ?? jobR;
  const explain = exR.ok ? exR.data.explain ?? exR.data : null;
  const timeline = tlR.ok ? list(tlR.data, "timeline", "events") : [];
  const children = list(kids, "jobs").filter((k) => k.retryOf === id || k.retryOf === Number(id));
  const finished = ["dead", "cancelled", "succeeded"].includes(job.state);
  c.querySelector("h1") ?? c.append(h("h1", {}, h("a", { href: "#/jobs" }, "Jobs"), ` / ${id}`));
  section(c, "head", () =>
    h(
      "div",
      { class: "spread" },
      h(
        "div",
        { class: "row" },
        chip(job.state),
        h("span", { class: "mono" }, job.kind),
        h("span", { class: "muted" }, `in ${job.queue}`),
      ),
      h(
        "div",
        { class: "row" },
        ["dead", "cancelled"].includes(job.state)
          ? mutateButton("Retry", {
            confirm: {
              title: `Retry job ${id}?`,
              body:
                "Creates a new job with the same payload, linked to this one. This job stays as it is.",
              ok: "Retry",
            },
            run: () => api("POST", `/v1/jobs/${id}/retry`),
            done: (r) => `Created job ${(r.job ?? r).id}`,
          }, "primary")
          : null,
        finished
          ? mutateButton("Replay", {
            confirm: {
              title: `Replay job ${id}?`,
              body:
                "Creates a new job with the same payload, linked by retryOf. This job stays as it is.",
              ok: "Replay",
            },
            run: () => api("POST", `/v1/jobs/${id}/replay`),
            done: (r) => `Created job ${(r.job ?? r).id}`,
          })
          : mutateButton("Cancel", {
            confirm: {
              title: `Cancel job ${id}?`,
              body: job.state === "running"
                ? "The running attempt is asked to stop; the job ends cancelled."
                : "The job will not run.",
              ok: "Cancel job",
            },
            run: () => api("POST", `/v1/jobs/${id}/cancel`),
            done: `Cancelled job ${id}`,
          }, "danger"),
      ),
    ));
  section(c, "explain", () => [
    h("h2", {}, "Why is it here?"),
    explain
      ? h(
        "div",
        { class: "explain", dataset: { code: explain.code } },
        h("div", {}, explain.sentence ?? explain.message),
        h("div", { class: "hint" }, h("code", {}, explain.code)),
      )
      : h(
        "p",
        { class: "muted" },
        exR.missing
          ? "Explain is not available in this build."
          : `${exR.error?.code}: ${exR.error?.message}`,
      ),
  ]);
  section(c, "facts", () =>
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Job"),
        h(
          "dl",
          { class: "kv" },
          kv("Id", job.id),
          kv("Queue", h("a", { href: `#/queues/${encodeURIComponent(job.queue)}` }, job.queue)),
          kv("Attempt", `${job.attempt} of ${job.maxAttempts}`),
          kv("Priority", job.priority),
          kv("Run at", timeBoth(job.runAt)),
          kv("Created", timeBoth(job.createdAt)),
          kv("Started", timeBoth(job.startedAt)),
          kv("Finished", timeBoth(job.finishedAt)),
          job.leaseExpiresAt ? kv("Lease expires", timeBoth(job.leaseExpiresAt)) : null,
          kv("Worker", job.workerId ?? "—"),
          job.deadReason ? kv("Dead reason", h("code", {}, job.deadReason)) : null,
          kv(
            "Tags",
            (job.tags ?? []).length
              ? job.tags.map((t) => h("a", { class: "chip", href: `#/jobs${qs({ tag: t })}` }, t))
              : "—",
          ),
          job.idempotencyKey ? kv("Idempotency key", job.idempotencyKey) : null,
          kv(
            "Re-runs",
            job.retryOf
              ? h(
                "span",
                {},
                "this job re-runs ",
                h(
                  "a",
                  { href: `#/jobs/${job.retryOf}`, dataset: { lineage: "parent" } },
                  `job ${job.retryOf}`,
                ),
              )
              : "original job",
          ),
          kv(
            "Re-run by",
            children.length
              ? children.map((k) =>
                h(
                  "span",
                  {},
                  h("a", { href: `#/jobs/${k.id}`, dataset: { lineage: "child" } }, `job ${k.id}`),
                  " ",
                  chip(k.state),
                  " ",
                )
              )
              : "none",
          ),
        ),
      ),
      h(
        "div",
        { class: "panel" },
        h(
          "div",
          { class: "spread" },
          h("h2", {}, "Payload"),
          copyButton(JSON.stringify(job.payload, null, 2)),
        ),
        h("pre", { class: "json", dataset: { payload: "" } }, JSON.stringify(job.payload, null, 2)),
        job.result != null
          ? [
            h("h2", {}, "Result"),
            h("pre", { class: "json" }, JSON.stringify(job.result, null, 2)),
          ]
          : null,
      ),
    ));
  const attempts = job.errors ??
    (job.lastError ? [{ attempt: job.attempt, ...job.lastError }] : []);
  section(c, "attempts", () => [
    h("h2", {}, "Failed attempts"),
    attempts.length === 0
      ? h("p", { class: "muted" }, "No attempt has failed.")
      : objectTable(attempts, [
        "attempt",
        "code",
        "message",
        "worker",
        "startedAt",
        "at",
        "retryable",
      ]),
  ]);
  section(c, "timeline", () => [
    h("h2", {}, "Timeline"),
    timeline.length === 0
      ? h(
        "p",
        { class: "muted" },
        tlR.missing ? "The timeline is not available in this build." : "No events.",
      )
      : h(
        "ol",
        { class: "timeline", dataset: { timeline: "" } },
        timeline.map((e) =>
          h(
            "li",
            { class: `t-${e.event}` },
            h("strong", {}, e.event.replaceAll("_", " ")),
            " ",
            timeBoth(e.at),
            e.attempt ? h("span", { class: "muted" }, ` · attempt ${e.attempt}`) : null,
            e.workerId ? h("span", { class: "muted" }, ` · ${e.workerId}`) : null,
            e.detail && Object.keys(e.detail).length
              ? h("div", { class: "hint mono" }, detailText(e.detail))
              : null,
          )
        ),
      ),
  ]);
}

function detailText(d) {
  return Object.entries(d).filter(([, v]) => v != null).map(([k, v]) =>
    `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`
  ).join(" · ");
}

function kv(k, v) {
  return [h("dt", {}, k), h("dd", {}, v ?? "—")];
}

function timeBoth(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h(
    "span",
    {},
    time(iso),
    h("span", { class: "muted" }, ` · ${new Date(iso).toLocaleString()}`),
  );
}

function copyButton(text) {
  return h("button", {
    type: "button",
    class: "ghost",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        toast("Copied to the clipboard");
      } catch {
        toast("The browser refused clipboard access", true);
      }
    },
  }, "Copy");
}

/** A table of objects: the preferred columns first when present, then up to 8 in all. */
function objectTable(rows, preferred = []) {
  const keys = new Set();
  for (const k of preferred) if (rows.some((r) => r[k] !== undefined)) keys.add(k);
  for (const r of rows) for (const k of Object.keys(r)) if (keys.size < 8) keys.add(k);
  const cell = (k, v) => {
    if (v == null) return "—";
    if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return time(v);
    if (k === "state" || k === "status") return chip(v);
    if (typeof v === "object") return h("code", {}, JSON.stringify(v));
    return String(v);
  };
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, [...keys].map((k) => h("th", {}, k)))),
      h(
        "tbody",
        {},
        rows.map((r) => h("tr", {}, [...keys].map((k) => h("td", {}, cell(k, r[k]))))),
      ),
    ),
  );
}

// Dead letters -------------------------------------------------------------------------------

const dlqSelection = new Set();

async function viewDlq(c, params) {
  const [data, { queues }] = await Promise.all([
    api("GET", `/v1/dlq${qs({ queue: params.queue, reason: params.reason, limit: 100 })}`),
    loadQueues(),
  ]);
  const jobs = list(data, "jobs");
  let groups = list(data, "groups");
  if (groups.length === 0) {
    // The API counts dead jobs by reason under a filter: ask once per queue that has any.
    const dead = queues.filter((q) => queueCounts(q).dead > 0).map((q) => q.name).slice(0, 50);
    const perQueue = await Promise.all(
      dead.map((q) => api("GET", `/v1/dlq${qs({ queue: q, limit: 1 })}`).then((r) => [q, r])),
    );
    groups = perQueue.flatMap(([queue, r]) =>
      Object.entries(r.counts ?? {}).map(([reason, count]) => ({ queue, reason, count }))
    );
  }
  for (const id of [...dlqSelection]) if (!jobs.some((j) => j.id === id)) dlqSelection.delete(id);
  c.querySelector("h1") ?? c.append(h("h1", {}, "Dead letters"));
  section(c, "groups", () => [
    h("h2", {}, "By reason and queue"),
    groups.length === 0
      ? h(
        "div",
        { class: "empty panel" },
        "The dead-letter queue is empty. Jobs land here when their attempts run out or they fail permanently.",
      )
      : h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { dataset: { table: "dlq-groups" } },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, "Reason"),
              h("th", {}, "Queue"),
              h("th", { class: "num" }, "Jobs"),
              h("th", {}, ""),
            ),
          ),
          h(
            "tbody",
            {},
            groups.map((g) => {
              const reason = g.reason ?? g.deadReason;
              return h(
                "tr",
                {},
                h("td", {}, h("code", {}, reason)),
                h("td", {}, g.queue),
                h("td", { class: "num" }, fmt(g.count ?? g.n)),
                h(
                  "td",
                  { class: "row" },
                  h("a", { href: `#/dlq${qs({ queue: g.queue, reason })}` }, "show"),
                  mutateButton(`Replay all ${fmt(g.count ?? g.n)}`, {
                    confirm: {
                      title: `Replay every ${reason} job of ${g.queue}?`,
                      body: "Each dead job gets a new linked job; the dead ones stay as they are.",
                      ok: "Replay all",
                    },
                    run: () => api("POST", "/v1/dlq/replay", { queue: g.queue, reason }),
                    done: replaySummary,
                  }),
                ),
              );
            }),
          ),
        ),
      ),
  ]);
  section(c, "list", () => [
    h(
      "div",
      { class: "spread" },
      h(
        "h2",
        {},
        params.queue || params.reason
          ? `Dead jobs${params.queue ? ` in ${params.queue}` : ""}${
            params.reason ? ` with ${params.reason}` : ""
          }`
          : "Dead jobs",
        params.queue || params.reason
          ? h("a", { class: "hint", href: "#/dlq" }, " (clear filter)")
          : null,
      ),
      canMutate() && jobs.length
        ? h(
          "div",
          { class: "row" },
          h("button", {
            type: "button",
            dataset: { action: "replay-selected" },
            onclick: () => {
              const ids = [...dlqSelection];
              if (ids.length === 0) return toast("Select dead jobs first", true);
              act({
                confirm: {
                  title: `Replay ${ids.length} selected jobs?`,
                  body: "Each gets a new linked job.",
                  ok: "Replay",
                },
                run: () => api("POST", "/v1/dlq/replay", { ids }),
                done: replaySummary,
              }).then((r) => r && dlqSelection.clear());
            },
          }, "Replay selected"),
          params.queue || params.reason
            ? mutateButton("Replay all matching", {
              confirm: {
                title: "Replay every job matching this filter?",
                body: "Each gets a new linked job.",
                ok: "Replay",
              },
              run: () =>
                api("POST", "/v1/dlq/replay", {
                  queue: params.queue || undefined,
                  reason: params.reason || undefined,
                }),
              done: replaySummary,
            })
            : null,
        )
        : null,
    ),
    jobsTable(
      jobs,
      canMutate()
        ? {
          select: (j) =>
            h("input", {
              type: "checkbox",
              "aria-label": `select job ${j.id}`,
              checked: dlqSelection.has(j.id),
              onchange: (ev) =>
                ev.target.checked ? dlqSelection.add(j.id) : dlqSelection.delete(j.id),
            }),
        }
        : {},
    ),
  ]);
}

function replaySummary(r) {
  const n = r?.count ?? list(r, "replayed", "jobs").length;
  const failed = list(r, "failed", "errors").length;
  const more = r?.more ? "; more match: replay again for the rest" : "";
  return `Replayed ${fmt(n)} jobs${failed ? `, ${failed} refused` : ""}${more}`;
}

// Workers, schedules, circuits, decisions ----------------------------------------------------

async function viewWorkers(c) {
  const r = await optional("/v1/workers");
  c.querySelector("h1") ?? c.append(h("h1", {}, "Workers"));
  section(c, "table", () => {
    if (!r.ok) return unavailable(r, "Workers");
    const ws = list(r.data, "workers");
    if (ws.length === 0) {
      return h(
        "div",
        { class: "empty panel" },
        "No worker has been seen in the last day. Start one with ",
        h("code", {}, "sluice worker"),
        " or ",
        h("code", {}, "sluice up"),
        ".",
      );
    }
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [
              "Worker",
              "Kind",
              "State",
              "Queues",
              "Concurrency",
              "Running",
              "Last seen",
              "Started",
              "Version",
            ].map((t) => h("th", {}, t)),
          ),
        ),
        h(
          "tbody",
          {},
          ws.map((w) =>
            h(
              "tr",
              {},
              h("td", { class: "mono" }, w.id),
              // A pull worker is an external program: its concurrency is the largest batch it asked for.
              h("td", {}, w.kind ?? "process"),
              h("td", {}, chip(w.state ?? "online")),
              h("td", {}, (w.queues ?? []).join(", ")),
              h("td", { class: "num" }, w.concurrency),
              h(
                "td",
                {},
                (w.runningJobIds ?? []).slice(0, 10).map((id) =>
                  h("a", { class: "mono", href: `#/jobs/${id}` }, `${id} `)
                ),
                (w.runningJobIds ?? []).length > 10 ? `+${w.runningJobIds.length - 10}` : null,
                // Prefetched, not started: counted apart so a stalled buffer is not "running".
                (w.heldJobIds ?? []).length > 0
                  ? h(
                    "span",
                    { class: "muted", title: "leased into its prefetch buffer, not started" },
                    ` (${fmt(w.heldJobIds.length)} held, not started)`,
                  )
                  : null,
              ),
              h("td", {}, time(w.lastSeenAt)),
              h("td", {}, time(w.startedAt)),
              h("td", {}, w.version),
            )
          ),
        ),
      ),
    );
  });
}

function unavailable(r, what) {
  if (r.missing) {
    return h(
      "div",
      { class: "empty panel", dataset: { unavailable: "" } },
      `${what}: not available in this build.`,
    );
  }
  return errorBox(r.error);
}

async function viewSchedules(c) {
  const r = await optional("/v1/schedules");
  if (!c.querySelector("h1")) {
    c.append(h("h1", {}, "Schedules"));
    if (canMutate() && r.ok) c.append(scheduleForm());
  }
  section(c, "table", () => {
    if (!r.ok) return unavailable(r, "Schedules");
    const rows = list(r.data, "schedules");
    if (rows.length === 0) {
      return h(
        "div",
        { class: "empty panel" },
        "No schedules. Create one above or with ",
        h("code", {}, "sluice schedule create"),
        ".",
      );
    }
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Cron", "Queue", "Kind", "State", "Next run", "Last run", ""].map((t) =>
              h("th", {}, t)
            ),
          ),
        ),
        h(
          "tbody",
          {},
          rows.map((s) => {
            const id = encodeURIComponent(s.name);
            return h(
              "tr",
              {},
              h("td", {}, s.name),
              h("td", { class: "mono" }, s.cron, s.timezone ? ` (${s.timezone})` : ""),
              h("td", {}, s.queue),
              h("td", { class: "mono" }, s.kind),
              h(
                "td",
                {},
                s.paused
                  ? chip("paused")
                  : s.failingSince
                  ? chip("firing", "failing")
                  : chip("ok", "active"),
                // Why its last slot could not fire (a deleted queue, a refused payload).
                s.failingSince
                  ? h(
                    "div",
                    { class: "muted", title: s.lastError },
                    String(s.lastError).slice(0, 120),
                  )
                  : null,
              ),
              h("td", {}, s.paused ? h("span", { class: "muted" }, "paused") : time(s.nextSlot)),
              h(
                "td",
                {},
                time(s.lastFiredAt),
                s.lastJobId
                  ? h("a", { class: "mono", href: `#/jobs/${s.lastJobId}` }, ` #${s.lastJobId}`)
                  : null,
              ),
              h(
                "td",
                { class: "row" },
                s.paused
                  ? mutateButton("Resume", {
                    run: () => api("POST", `/v1/schedules/${id}/resume`),
                    done: "Schedule resumed",
                  })
                  : mutateButton("Pause", {
                    run: () => api("POST", `/v1/schedules/${id}/pause`),
                    done: "Schedule paused",
                  }),
                mutateButton("Delete", {
                  confirm: {
                    title: `Delete schedule ${s.name}?`,
                    body: "Jobs it already enqueued are kept.",
                    ok: "Delete",
                  },
                  run: () => api("DELETE", `/v1/schedules/${id}`),
                  done: "Schedule deleted",
                }, "danger"),
              ),
            );
          }),
        ),
      ),
    );
  });
}

function scheduleForm() {
  const f = {};
  const field = (k, label, el) => {
    f[k] = el;
    el.id = `s-${k}`;
    return h("div", { class: "field" }, h("label", { for: el.id }, label), el);
  };
  const err = h("p", { class: "error", role: "alert", hidden: true });
  return h(
    "form",
    {
      class: "panel filters",
      onsubmit: async (ev) => {
        ev.preventDefault();
        let payload;
        try {
          payload = f.payload.value.trim() ? JSON.parse(f.payload.value) : {};
        } catch (e) {
          err.textContent = `Payload is not JSON: ${e.message}`;
          err.hidden = false;
          return;
        }
        err.hidden = true;
        const body = {
          name: f.name.value.trim(),
          cron: f.cron.value.trim(),
          queue: f.queue.value.trim(),
          kind: f.kind.value.trim(),
          payload,
        };
        if (f.timezone.value.trim()) body.timezone = f.timezone.value.trim();
        const r = await act({
          run: () => api("POST", "/v1/schedules", body),
          done: `Schedule ${body.name} created`,
        });
        if (r) ev.target.reset();
      },
    },
    field("name", "Name", h("input", { required: true })),
    field("cron", "Cron", h("input", { required: true, placeholder: "*/5 * * * *" })),
    field("timezone", "Time zone", h("input", { placeholder: "UTC" })),
    field("queue", "Queue", h("input", { required: true, value: "default" })),
    field("kind", "Kind", h("input", { required: true })),
    field("payload", "Payload (JSON)", h("input", { placeholder: "{}" })),
    h("button", { type: "submit", class: "primary" }, "Create schedule"),
    err,
  );
}

async function viewCircuits(c) {
  const r = await optional("/v1/circuits");
  c.querySelector("h1") ?? c.append(h("h1", {}, "Circuits"));
  section(c, "table", () => {
    if (!r.ok) return unavailable(r, "Circuits");
    const rows = list(r.data, "circuits");
    if (rows.length === 0) {
      return h(
        "div",
        { class: "empty panel" },
        "No circuits yet. HTTP delivery keeps one per target origin and opens it after repeated failures (jobs are deferred, not failed, until it closes).",
      );
    }
    const columns = [
      "origin",
      "state",
      "consecutiveFailures",
      "windowFailures",
      "openedAt",
      "openUntil",
      "lastFailure",
    ];
    return objectTable(
      rows.map((r) => Object.fromEntries(columns.map((k) => [k, r[k]]))),
      columns,
    );
  });
}

async function viewDecisions(c, params) {
  const r = await optional(
    `/v1/ingest/decisions${qs({ queue: params.queue, before: params.before, limit: 100 })}`,
  );
  c.querySelector("h1") ?? c.append(h("h1", {}, "Policy decisions"));
  section(c, "table", () => {
    if (!r.ok) return unavailable(r, "Policy decisions");
    const rows = list(r.data, "decisions");
    const next = r.data?.nextCursor;
    if (rows.length === 0) {
      return h(
        "div",
        { class: "empty panel" },
        "No enqueue has been denied. Denials (QUEUE_FULL, ENQUEUE_RATE_EXCEEDED, PAYLOAD_TOO_LARGE…) are listed here.",
      );
    }
    return [
      objectTable(rows, ["at", "queue", "code", "detail", "tokenName"]),
      next
        ? h(
          "div",
          { class: "pager" },
          h(
            "a",
            { class: "button", href: `#/decisions${qs({ ...params, before: next })}` },
            "Older →",
          ),
        )
        : null,
    ];
  });
}

// ------------------------------------------------------------------------------------------
// Sign in, sign out, theme, boot

function onSignedIn(s) {
  Object.assign(session, { name: s.name, scope: s.scope, csrfToken: s.csrfToken });
  $("#signin").hidden = true;
  $("#top").hidden = false;
  $("#whoami").textContent = `${s.name} · ${s.scope}`;
  document.body.dataset.scope = s.scope;
  route();
}

/** The server's reason when a session was ended (signed out elsewhere, token revoked), or null. */
function endedSession(err) {
  return err?.code === "SESSION_REVOKED" || err?.code === "TOKEN_REVOKED"
    ? `${err.code}: ${err.message}`
    : null;
}

function onSignedOut(reason = null) {
  Object.assign(session, { name: null, scope: null, csrfToken: null });
  // Say why instead of silently showing the sign-in form (e.g. `sluice token revoke`).
  const err = $("#signin-error");
  err.textContent = reason ?? "";
  err.hidden = !reason;
  clearTimeout(timer);
  current = null;
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
  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#signin-error");
    err.hidden = true;
    const input = $("#token");
    try {
      const s = await api("POST", "/v1/session", { token: input.value.trim() });
      input.value = "";
      onSignedIn(s);
    } catch (e) {
      err.textContent = `${e.code}: ${e.message}`;
      err.hidden = false;
    }
  });
  $("#signout").addEventListener("click", async () => {
    try {
      await api("DELETE", "/v1/session");
    } catch { /* signed out either way */ }
    onSignedOut();
  });
  addEventListener("hashchange", () => route());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshSoon();
  });
  // Keyboard: "g" then a letter jumps to a view; "/" focuses the first search field.
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
      const to = {
        o: "overview",
        q: "queues",
        j: "jobs",
        d: "dlq",
        w: "workers",
        s: "schedules",
        c: "circuits",
        p: "decisions",
      }[ev.key];
      if (to) navigate(`/${to}`);
      return;
    }
    g = ev.key === "g";
  });
  setInterval(() => {
    for (const t of document.querySelectorAll("time[datetime]")) {
      t.textContent = relative(t.getAttribute("datetime"));
    }
  }, 15_000);
  api("GET", "/v1/session").then(onSignedIn, (e) => onSignedOut(endedSession(e)));
}

boot();
