// The queues list, and the queue table the overview shares.
import { client, qs, STATES } from "./client.js";
import { chip, dataTable, empty, h, section } from "./dom.js";
import { age, fmt } from "./format.js";

/** Age of the oldest runnable job now (the API gives when it became due). */
export function oldestWaitingMs(q) {
  return q.oldestWaitingAt ? Math.max(0, Date.now() - Date.parse(q.oldestWaitingAt)) : null;
}

export function queuesTable(queues) {
  if (queues.length === 0) {
    return empty(
      "No queues yet. Create one with ",
      h("code", {}, "sluice queue create NAME"),
      " or POST /v1/queues.",
    );
  }
  return dataTable(
    { dataset: { table: "queues" } },
    [
      {
        label: "Queue",
        cell: (q) => h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name),
      },
      ...STATES.map((s) => ({
        label: s[0].toUpperCase() + s.slice(1),
        cls: "num",
        attrs: () => ({ dataset: { state: s } }),
        cell: (q) =>
          q.counts[s]
            ? h("a", { href: `#/jobs${qs({ queue: q.name, state: s })}` }, fmt(q.counts[s]))
            : "0",
      })),
      { label: "Oldest waiting", cls: "num", cell: (q) => age(oldestWaitingMs(q)) },
      {
        label: "Paused",
        attrs: (q) => ({ dataset: { paused: String(q.paused) } }),
        cell: (q) => (q.paused ? chip("paused") : "no"),
      },
    ],
    queues,
    (q) => ({ dataset: { queue: q.name } }),
  );
}

export async function viewQueues(c) {
  const { queues } = await client.queues();
  c.querySelector("h1") ?? c.append(h("h1", {}, "Queues"));
  section(c, "table", () => queuesTable(queues));
}
