// Topics and the queues subscribed to them (fan-out: a publish makes one job per queue).
import { client } from "./client.js";
import { dataTable, empty, h, section, time } from "./dom.js";

export async function viewTopics(c) {
  const { topics, subscriptions } = await client.topics();
  if (!c.querySelector("h1")) c.append(h("h1", {}, "Topics"));
  section(c, "table", () => {
    if (topics.length === 0) {
      return empty(
        "No topics. Subscribe a queue with ",
        h("code", {}, "sluice topic subscribe NAME --queue Q"),
        ".",
      );
    }
    const since = new Map(subscriptions.map((s) => [`${s.topic}\u0000${s.queue}`, s]));
    return dataTable({ dataset: { table: "topics" } }, [
      { label: "Topic", cls: "mono", cell: (t) => t.name },
      {
        label: "Subscribed queues",
        cell: (t) =>
          t.queues.flatMap((q, i) => [
            i > 0 ? ", " : null,
            h("a", { href: `#/queues/${encodeURIComponent(q)}` }, q),
          ]),
      },
      {
        label: "Since",
        cell: (t) =>
          time(t.queues.map((q) => since.get(`${t.name}\u0000${q}`)?.createdAt).sort()[0]),
      },
    ], topics);
  });
}
