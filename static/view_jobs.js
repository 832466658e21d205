// Job search (served by GET /v1/jobs: payload, kind prefix, tag, queue, time range), its exact
// count, bulk actions on everything the search matches, and the jobs table other views share.
import { canMutate, client, qs, STATES } from "./client.js";
import { chip, dataTable, empty, errorBox, h, section, time, toast } from "./dom.js";
import { fmt, jobCount } from "./format.js";
import { act } from "./live.js";
import { navigate } from "./router.js";

/** Keyset pages: back to the newest, and on to the page after `next` (a nextCursor). */
export function pager(path, params, next, olderLabel) {
  return h(
    "div",
    { class: "row pager" },
    params.before
      ? h("a", { class: "button", href: `#${path}${qs({ ...params, before: null })}` }, "⇤ Newest")
      : null,
    next
      ? h("a", {
        class: "button",
        href: `#${path}${qs({ ...params, before: next })}`,
        dataset: { next },
      }, olderLabel)
      : null,
  );
}

/** @param {{ select?: (j: any) => unknown, note?: (j: any) => unknown }} [opts] */
export function jobsTable(jobs, { select, note } = {}) {
  if (jobs.length === 0) {
    return empty(
      "No jobs match. Enqueue one with ",
      h("code", {}, "sluice jobs enqueue --queue default --kind sluice.noop"),
      " or POST /v1/jobs, or clear the filters.",
    );
  }
  return dataTable(
    { dataset: { table: "jobs" } },
    [
      ...(select ? [{ label: "Select", cell: select }] : []),
      { label: "Id", cls: "mono", cell: (j) => h("a", { href: `#/jobs/${j.id}` }, j.id) },
      { label: "Queue", cell: (j) => j.queue },
      { label: "Kind", cls: "mono", cell: (j) => j.kind },
      {
        label: "State",
        cell: (j) => [
          chip(j.state),
          j.deadReason ? h("span", { class: "muted" }, ` ${j.deadReason}`) : null,
          note?.(j),
        ],
      },
      { label: "Attempt", cls: "num", cell: (j) => `${j.attempt}/${j.maxAttempts}` },
      {
        label: "Last error",
        cell: (j) => j.lastError ? `${j.lastError.code}: ${j.lastError.message}`.slice(0, 120) : "",
      },
      { label: "Created", cell: (j) => time(j.createdAt) },
    ],
    jobs,
    (j) => ({ dataset: { job: j.id } }),
  );
}

/** The search's query parameters, as GET /v1/jobs and /v1/jobs/count take them. */
const FILTERS = [
  "queue",
  "state",
  "kindPrefix",
  "tag",
  "payload",
  "createdAfter",
  "createdBefore",
  "retryOf",
];

/** datetime-local inputs speak local time without a zone; the API and the URL speak ISO. */
const toIso = (local) => (local ? new Date(local).toISOString() : "");
function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${
    p(d.getMinutes())
  }`;
}

function filterForm(params, queueNames) {
  const fields = {};
  const mk = (k, label, el) => {
    fields[k] = el;
    return h("div", { class: "field" }, h("label", { for: `f-${k}` }, label), el);
  };
  const input = (k, attrs = {}) => h("input", { id: `f-${k}`, value: params[k] ?? "", ...attrs });
  return h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (ev) => {
        ev.preventDefault();
        const id = fields.id.value.trim();
        if (id) return navigate(`/jobs/${id}`);
        const values = Object.fromEntries(FILTERS.map((k) => [k, fields[k].value.trim()]));
        values.createdAfter = toIso(values.createdAfter);
        values.createdBefore = toIso(values.createdBefore);
        navigate("/jobs", values);
      },
    },
    mk("id", "Job id", input("id", { inputmode: "numeric", placeholder: "go to id", value: "" })),
    mk("queue", "Queue", input("queue", { list: "f-queues", autocomplete: "off" })),
    h("datalist", { id: "f-queues" }, queueNames.map((n) => h("option", { value: n }))),
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
    mk("kindPrefix", "Kind starts with", input("kindPrefix")),
    mk("tag", "Tag", input("tag")),
    mk(
      "payload",
      "Payload",
      input("payload", { placeholder: 'customer.id=42 or {"customer":{"id":42}}', class: "wide" }),
    ),
    mk(
      "createdAfter",
      "Created after",
      input("createdAfter", { type: "datetime-local", value: toLocal(params.createdAfter) }),
    ),
    mk(
      "createdBefore",
      "Created before",
      input("createdBefore", { type: "datetime-local", value: toLocal(params.createdBefore) }),
    ),
    mk("retryOf", "Re-runs of job", input("retryOf")),
    h("button", { type: "submit", class: "primary" }, "Search"),
  );
}

const VERBS = {
  cancel: { label: "Cancel", done: "Cancelled", which: "unfinished", cls: "danger" },
  retry: { label: "Retry", done: "Retried", which: "dead or cancelled", cls: "" },
  discard: { label: "Discard", done: "Discarded", which: "dead", cls: "danger" },
};

/** In words, what the search is ("queue mail, kind report.*"), for the confirmation. */
function described(filter) {
  const parts = Object.entries(filter).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`);
  return parts.length ? parts.join(", ") : "no filter: every job";
}

/**
 * Counts what the action would touch (exactly, server-side, on the whole filter), asks with
 * that number, then acts on the same filter up to the counted newest id.
 */
async function bulk(action, filter) {
  const v = VERBS[action];
  let counted;
  try {
    counted = await client.countJobs({ ...filter, action });
  } catch (e) {
    return toast(`${e.code}: ${e.message}`, true);
  }
  if (counted.count === 0) return toast(`No ${v.which} job matches ${described(filter)}`, true);
  if (counted.capped) {
    return toast(
      `More than ${
        jobCount(counted.count)
      } match: narrow the search (a queue, a kind, a time range)`,
      true,
    );
  }
  const n = fmt(counted.count);
  return await act({
    confirm: {
      title: `${v.label} ${jobCount(counted.count)}?`,
      body:
        `${n} ${v.which} ${counted.count === 1 ? "job matches" : "jobs match"} ${
          described(filter)
        }.` + (action === "discard" ? " Discarded jobs are deleted for good." : "") +
        (action === "retry" ? " Each gets a new linked job." : ""),
      ok: `${v.label} ${n}`,
    },
    run: () => client.bulk({ action, filter: { ...filter, upTo: counted.upTo ?? undefined } }),
    done: (r) => `${v.done} ${jobCount(r.count)}`,
  });
}

function bulkBar(filter, total) {
  if (!canMutate()) return null;
  return h(
    "div",
    { class: "row", dataset: { bulk: "" } },
    Object.entries(VERBS).map(([action, v]) =>
      h("button", {
        type: "button",
        class: v.cls,
        dataset: { action: `bulk-${action}` },
        disabled: total === 0,
        onclick: (ev) => {
          const b = ev.currentTarget;
          b.disabled = true;
          bulk(action, filter).finally(() => (b.disabled = false));
        },
      }, `${v.label} matching…`)
    ),
  );
}

export async function viewJobs(c, params) {
  if (!c.querySelector("form.filters")) {
    const { queues } = await client.queues();
    c.append(h("h1", {}, "Jobs"), filterForm(params, queues.map((q) => q.name)));
  }
  const filter = Object.fromEntries(FILTERS.map((k) => [k, params[k] || undefined]));
  let page, counted;
  try {
    [page, counted] = await Promise.all([
      client.jobs({ ...filter, before: params.before, limit: 50 }),
      client.countJobs(filter),
    ]);
  } catch (e) {
    // A search the API refuses (no such queue, a malformed payload query) is an answer, not an
    // outage: say it where the results go.
    if (!(e.status >= 400 && e.status < 500) || e.status === 401) throw e;
    section(c, "results", () => errorBox(e));
    return;
  }
  const next = page.nextCursor;
  section(c, "results", () => [
    h(
      "div",
      { class: "spread" },
      h(
        "h2",
        { dataset: { count: String(counted.count) } },
        `${counted.capped ? "More than " : ""}${jobCount(counted.count)} ${
          counted.count === 1 ? "matches" : "match"
        }`,
      ),
      bulkBar(filter, counted.count),
    ),
    jobsTable(page.jobs),
    pager("/jobs", params, next, "Older →"),
  ]);
}
