// Workers seen in the last day, with the jobs they run and the ones held in their buffers.
import { canMutate, client } from "./client.js";
import { chip, dataTable, empty, h, section, time } from "./dom.js";
import { fmt } from "./format.js";
import { mutateButton } from "./live.js";

/**
 * Quiet: the worker leases no more, finishes what runs and stops (read on its heartbeat, a
 * third of its lease later). Pull workers are external programs and cannot be told.
 */
function quietButton(w) {
  if (w.kind !== "process" || w.state !== "online") return null;
  if (w.quietRequestedAt) return h("span", { class: "muted" }, "quieting…");
  return mutateButton("Quiet", {
    confirm: {
      title: `Quiet worker ${w.id}?`,
      body: `It leases no more jobs, finishes the ${
        fmt(w.runningJobIds.length)
      } it runs, gives back the ones it holds, and stops. Start it again to resume.`,
      ok: "Quiet",
    },
    run: () => client.quietWorker(w.id),
    done: `Worker ${w.id} asked to quiet down`,
  }, "danger");
}

function running(w) {
  return [
    w.runningJobIds.slice(0, 10).map((id) =>
      h("a", { class: "mono", href: `#/jobs/${id}` }, `${id} `)
    ),
    w.runningJobIds.length > 10 ? `+${w.runningJobIds.length - 10}` : null,
    // Prefetched, not started: counted apart so a stalled buffer is not "running".
    w.heldJobIds.length > 0
      ? h(
        "span",
        { class: "muted", title: "leased into its prefetch buffer, not started" },
        ` (${fmt(w.heldJobIds.length)} held, not started)`,
      )
      : null,
  ];
}

export async function viewWorkers(c) {
  const { workers } = await client.workers();
  c.querySelector("h1") ?? c.append(h("h1", {}, "Workers"));
  section(c, "table", () => {
    if (workers.length === 0) {
      return empty(
        "No worker has been seen in the last day. Start one with ",
        h("code", {}, "sluice worker"),
        " or ",
        h("code", {}, "sluice up"),
        ".",
      );
    }
    return dataTable(
      { dataset: { table: "workers" } },
      [
        { label: "Worker", cls: "mono", cell: (w) => w.id },
        // A pull worker is an external program: its concurrency is the largest batch it asked for.
        { label: "Kind", cell: (w) => w.kind },
        {
          label: "State",
          // Stalled is counted in the status (src/queue/workers.ts stallOf): say why, here too.
          cell: (w) => [
            chip(w.state),
            w.stalled
              ? h("div", { class: "s-dead", dataset: { stalled: "" } }, `stalled: ${w.stalled}`)
              : null,
          ],
        },
        { label: "Queues", cell: (w) => w.queues.join(", ") },
        { label: "Concurrency", cls: "num", cell: (w) => w.concurrency },
        { label: "Running", cell: running },
        { label: "Last seen", cell: (w) => time(w.lastSeenAt) },
        { label: "Started", cell: (w) => time(w.startedAt) },
        { label: "Version", cell: (w) => w.version },
        ...(canMutate()
          ? [{ label: "Actions", attrs: () => ({ class: "row" }), cell: quietButton }]
          : []),
      ],
      workers,
      (w) => ({ dataset: { worker: w.id } }),
    );
  });
}
