// Dead letters: counts by reason and queue, the dead jobs, replay (selected, a group, a filter).
import { canMutate, client, qs } from "./client.js";
import { dataTable, empty, h, section, toast } from "./dom.js";
import { fmt } from "./format.js";
import { act, mutateButton } from "./live.js";
import { jobsTable } from "./view_jobs.js";

const selection = new Set();

function replaySummary(r) {
  const skipped = r.skipped.length;
  const more = r.more ? "; more match: replay again for the rest" : "";
  return `Replayed ${fmt(r.count)} jobs${skipped ? `, ${skipped} refused` : ""}${more}`;
}

/** The API counts dead jobs by reason under a queue filter: ask once per queue that has any. */
async function groups() {
  const { queues } = await client.queues();
  const dead = queues.filter((q) => (q.counts.dead ?? 0) > 0).map((q) => q.name).slice(0, 50);
  const perQueue = await Promise.all(
    dead.map((queue) => client.dlq({ queue, limit: 1 }).then((r) => [queue, r.counts])),
  );
  return perQueue.flatMap(([queue, counts]) =>
    Object.entries(counts).map(([reason, count]) => ({ queue, reason, count }))
  );
}

function groupsTable(rows) {
  if (rows.length === 0) {
    return empty(
      "The dead-letter queue is empty. Jobs land here when their attempts run out or they fail permanently.",
    );
  }
  return dataTable({ dataset: { table: "dlq-groups" } }, [
    { label: "Reason", cell: (g) => h("code", {}, g.reason) },
    { label: "Queue", cell: (g) => g.queue },
    { label: "Jobs", cls: "num", cell: (g) => fmt(g.count) },
    {
      label: "Actions",
      attrs: () => ({ class: "row" }),
      cell: (g) => [
        h("a", { href: `#/dlq${qs({ queue: g.queue, reason: g.reason })}` }, "show"),
        mutateButton(`Replay all ${fmt(g.count)}`, {
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
  ], rows);
}

function bulkButtons(params) {
  const filtered = params.queue || params.reason;
  return h(
    "div",
    { class: "row" },
    h("button", {
      type: "button",
      dataset: { action: "replay-selected" },
      onclick: () => {
        const ids = [...selection];
        if (ids.length === 0) return toast("Select dead jobs first", true);
        act({
          confirm: {
            title: `Replay ${ids.length} selected jobs?`,
            body: "Each gets a new linked job.",
            ok: "Replay",
          },
          run: () => client.replay({ ids }),
          done: replaySummary,
        }).then((r) => r && selection.clear());
      },
    }, "Replay selected"),
    filtered
      ? mutateButton("Replay all matching", {
        confirm: {
          title: "Replay every job matching this filter?",
          body: "Each gets a new linked job.",
          ok: "Replay",
        },
        run: () =>
          client.replay({ queue: params.queue || undefined, reason: params.reason || undefined }),
        done: replaySummary,
      })
      : null,
  );
}

export async function viewDlq(c, params) {
  const [{ jobs }, byReason] = await Promise.all([
    client.dlq({ queue: params.queue, reason: params.reason, limit: 100 }),
    groups(),
  ]);
  for (const id of [...selection]) if (!jobs.some((j) => j.id === id)) selection.delete(id);
  const filtered = params.queue || params.reason;
  c.querySelector("h1") ?? c.append(h("h1", {}, "Dead letters"));
  section(c, "groups", () => [h("h2", {}, "By reason and queue"), groupsTable(byReason)]);
  section(c, "list", () => [
    h(
      "div",
      { class: "spread" },
      h(
        "h2",
        {},
        filtered
          ? `Dead jobs${params.queue ? ` in ${params.queue}` : ""}${
            params.reason ? ` with ${params.reason}` : ""
          }`
          : "Dead jobs",
        filtered ? h("a", { class: "hint", href: "#/dlq" }, " (clear filter)") : null,
      ),
      canMutate() && jobs.length ? bulkButtons(params) : null,
    ),
    jobsTable(
      jobs,
      canMutate()
        ? {
          select: (j) =>
            h("input", {
              type: "checkbox",
              "aria-label": `select job ${j.id}`,
              checked: selection.has(j.id),
              onchange: (ev) => ev.target.checked ? selection.add(j.id) : selection.delete(j.id),
            }),
        }
        : {},
    ),
  ]);
}
