// Dead letters: counts by reason and queue, the dead jobs, replay (selected, a group, a filter).
import { canMutate, client, qs } from "./client.js";
import { dataTable, empty, h, jobLink, section, toast } from "./dom.js";
import { fmt, jobCount } from "./format.js";
import { act, mutateButton } from "./live.js";
import { jobsTable, pager } from "./view_jobs.js";

const selection = new Set();
/** "Select all N matching": the action then goes to the whole filter, not the visible page. */
let allMatching = false;

/** The new jobs as links, so a replay's toast leads to what it made. */
function newJobLinks(pairs) {
  const shown = pairs.slice(0, 5);
  return [
    shown.length ? ": " : "",
    shown.map((p, i) => [i ? ", " : "", jobLink("→ ", p.newJobId)]),
    pairs.length > shown.length ? ` and ${fmt(pairs.length - shown.length)} more` : "",
  ];
}

function replaySummary(r) {
  const skipped = r.skipped.length;
  const more = r.more ? "; more match: replay again for the rest" : "";
  return h(
    "span",
    {},
    `Replayed ${jobCount(r.count)}${skipped ? `, ${skipped} refused` : ""}${more}`,
    newJobLinks(r.replayed),
  );
}

function groupsTable(rows) {
  if (rows.length === 0) {
    return empty(
      "The dead-letter queue is empty. Jobs land here when their attempts run out or they fail permanently.",
    );
  }
  return dataTable(
    { dataset: { table: "dlq-groups" } },
    [
      { label: "Reason", cell: (g) => h("code", {}, g.reason) },
      { label: "Queue", cell: (g) => g.queue },
      { label: "Jobs", cls: "num", cell: (g) => fmt(g.count) },
      { label: "Not replayed", cls: "num", cell: (g) => fmt(g.unreplayed) },
      {
        label: "Actions",
        attrs: () => ({ class: "row" }),
        cell: (g) => [
          h("a", { href: `#/dlq${qs({ queue: g.queue, reason: g.reason })}` }, "show"),
          // A replay by filter picks only the jobs with no re-run yet: the button counts those.
          g.unreplayed === 0 ? null : mutateButton(`Replay all ${fmt(g.unreplayed)}`, {
            confirm: {
              title: `Replay every ${g.reason} job of ${g.queue}?`,
              body: "Each dead job gets a new linked job; the dead ones stay as they are.",
              ok: "Replay all",
            },
            run: () => client.replay({ queue: g.queue, reason: g.reason }),
            done: replaySummary,
          }),
        ],
      },
    ],
    rows,
    (g) => ({ dataset: { group: `${g.queue}/${g.reason}`, unreplayed: String(g.unreplayed) } }),
  );
}

/** The dead-letter filter as the bulk route's job filter. */
const jobFilterOf = (params) => ({
  state: "dead",
  queue: params.queue || undefined,
  reason: params.reason || undefined,
});

/** Replay or discard: the selected rows, or (select-all) every dead job matching the filter. */
function selectionAction(params, total, action) {
  const replay = action === "retry";
  const verb = replay ? "Replay" : "Discard";
  return () => {
    const ids = [...selection];
    if (!allMatching && ids.length === 0) return toast("Select dead jobs first", true);
    const n = allMatching ? total : ids.length;
    act({
      confirm: {
        title: `${verb} ${allMatching ? "all" : "the"} ${jobCount(n)} ${
          allMatching ? "matching" : "selected"
        }?`,
        body: replay
          ? "Each gets a new linked job; the dead ones stay as they are."
          : "They are deleted for good (their re-runs stay).",
        ok: `${verb} ${fmt(n)}`,
      },
      run: () =>
        allMatching
          ? client.bulk({ action, filter: jobFilterOf(params) })
          : replay
          ? client.replay({ ids })
          : client.bulk({ action, ids }),
      done: (r) =>
        "replayed" in r ? replaySummary(r) : h(
          "span",
          {},
          `${replay ? "Replayed" : "Discarded"} ${fmt(r.count)} jobs`,
          newJobLinks(r.retried),
        ),
    }).then((r) => {
      if (!r) return;
      selection.clear();
      allMatching = false;
    });
  };
}

function bulkButtons(params, total) {
  return h(
    "div",
    { class: "row" },
    h(
      "label",
      { class: "row" },
      h("input", {
        type: "checkbox",
        dataset: { action: "select-all-matching" },
        checked: allMatching,
        onchange: (ev) => {
          allMatching = ev.target.checked;
          // Properties, not attributes: set them on the rows at hand (a re-render would not).
          const list = ev.target.closest("[data-section=list]");
          for (const box of list.querySelectorAll("table[data-table=jobs] input[type=checkbox]")) {
            box.checked = allMatching || selection.has(box.closest("tr").dataset.job);
            box.disabled = allMatching;
          }
        },
      }),
      ` Select all ${fmt(total)} matching`,
    ),
    h("button", {
      type: "button",
      dataset: { action: "replay-selected" },
      onclick: selectionAction(params, total, "retry"),
    }, "Replay selected"),
    h("button", {
      type: "button",
      class: "danger",
      dataset: { action: "discard-selected" },
      onclick: selectionAction(params, total, "discard"),
    }, "Discard selected"),
  );
}

const PAGE = 100;

export async function viewDlq(c, params) {
  const [{ jobs, counts, nextCursor, replays }, byReason] = await Promise.all([
    client.dlq({ queue: params.queue, reason: params.reason, before: params.before, limit: PAGE }),
    client.dlqGroups().then((r) => r.groups),
  ]);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const filtered = params.queue || params.reason;
  c.querySelector("h1") ?? c.append(h("h1", {}, "Dead letters"));
  section(c, "groups", () => [h("h2", {}, "By reason and queue"), groupsTable(byReason)]);
  section(c, "list", () => [
    h(
      "div",
      { class: "spread" },
      h(
        "h2",
        { dataset: { total: String(total) } },
        `${fmt(total)} dead jobs${params.queue ? ` in ${params.queue}` : ""}${
          params.reason ? ` with ${params.reason}` : ""
        }`,
        filtered ? h("a", { class: "hint", href: "#/dlq" }, " (clear filter)") : null,
      ),
      canMutate() && jobs.length ? bulkButtons(params, total) : null,
    ),
    jobsTable(jobs, {
      select: canMutate()
        ? (j) =>
          h("input", {
            type: "checkbox",
            "aria-label": `select job ${j.id}`,
            checked: allMatching || selection.has(j.id),
            disabled: allMatching,
            onchange: (ev) => ev.target.checked ? selection.add(j.id) : selection.delete(j.id),
          })
        : undefined,
      note: (j) =>
        replays[j.id]
          ? h(
            "span",
            { class: "muted", dataset: { replayedAs: replays[j.id] } },
            " replayed ",
            jobLink("→ job ", replays[j.id]),
          )
          : null,
    }),
    pager("/dlq", params, nextCursor, `Older ${PAGE} →`),
  ]);
}
