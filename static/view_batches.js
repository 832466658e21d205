// Batches: each with a progress bar (finished of total), its counts per state and its callbacks.
import { client } from "./client.js";
import { chip, dataTable, empty, h, section, time } from "./dom.js";

// "open" would take the open circuit's colour: batch states borrow job states' colours.
const STATE_CLASS = { open: "available", running: "running", settled: "succeeded" };

function progress(b) {
  return h(
    "div",
    { class: "batch-progress" },
    h("progress", {
      max: Math.max(b.total, 1),
      value: b.total === 0 ? (b.state === "settled" ? 1 : 0) : b.finished,
      "aria-label": `batch ${b.id}: ${b.finished} of ${b.total} finished`,
    }),
    h("span", { class: "mono" }, ` ${b.percent}% (${b.finished}/${b.total})`),
  );
}

const callbacks = (b) =>
  Object.keys(b.callbacks).map((cb) => {
    const job = b.callbackJobs[cb];
    return h(
      "div",
      {},
      `${cb}: `,
      job
        ? h("a", { class: "mono", href: `#/jobs/${job}` }, `#${job}`)
        : h("span", { class: "muted" }, b.state === "settled" ? "not needed" : "waiting"),
    );
  });

export async function viewBatches(c, params) {
  const { batches } = await client.batches(params);
  if (!c.querySelector("h1")) c.append(h("h1", {}, "Batches"));
  section(c, "table", () => {
    if (batches.length === 0) {
      return empty("No batches. Create one with ", h("code", {}, "POST /v1/batches"), ".");
    }
    return dataTable({ dataset: { table: "batches" } }, [
      {
        label: "Batch",
        cell: (b) => [b.name ?? "—", h("span", { class: "muted mono" }, ` #${b.id}`)],
      },
      { label: "State", cell: (b) => chip(STATE_CLASS[b.state], b.state) },
      { label: "Progress", cell: progress },
      {
        label: "Jobs",
        cell: (b) =>
          Object.entries(b.counts).map(([s, n]) => h("span", {}, chip(s, `${n} ${s}`), " ")),
      },
      { label: "Callbacks", cell: callbacks },
      { label: "Created", cell: (b) => time(b.createdAt) },
    ], batches);
  });
}
