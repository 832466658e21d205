// Job search and the jobs table the queue and dead-letter views share.
import { client, qs, STATES } from "./client.js";
import { chip, dataTable, empty, h, section, time } from "./dom.js";
import { navigate } from "./router.js";

export function jobsTable(jobs, { select } = {}) {
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

const FILTERS = ["queue", "state", "kind", "tag", "retryOf"];

function filterForm(params) {
  const fields = {};
  const mk = (k, label, el) => {
    fields[k] = el;
    return h("div", { class: "field" }, h("label", { for: `f-${k}` }, label), el);
  };
  return h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (ev) => {
        ev.preventDefault();
        const id = fields.id.value.trim();
        if (id) return navigate(`/jobs/${id}`);
        navigate("/jobs", Object.fromEntries(FILTERS.map((k) => [k, fields[k].value.trim()])));
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
}

export async function viewJobs(c, params) {
  if (!c.querySelector("form.filters")) c.append(h("h1", {}, "Jobs"), filterForm(params));
  const page = await client.jobs({
    ...Object.fromEntries(FILTERS.map((k) => [k, params[k]])),
    before: params.before,
    limit: 50,
  });
  const next = page.nextCursor;
  section(c, "results", () => [
    jobsTable(page.jobs),
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
