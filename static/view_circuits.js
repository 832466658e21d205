// Circuits (one per HTTP delivery origin) and the policy decisions that denied enqueues.
import { client, qs } from "./client.js";
import { empty, h, objectTable, section } from "./dom.js";

export async function viewCircuits(c) {
  const { circuits } = await client.circuits();
  c.querySelector("h1") ?? c.append(h("h1", {}, "Circuits"));
  section(c, "table", () =>
    circuits.length === 0
      ? empty(
        "No circuits yet. HTTP delivery keeps one per target origin and opens it after repeated failures (jobs are deferred, not failed, until it closes).",
      )
      : objectTable(circuits, [
        "origin",
        "state",
        "consecutiveFailures",
        "windowFailures",
        "openedAt",
        "openUntil",
        "lastFailure",
      ], { dataset: { table: "circuits" } }));
}

export async function viewDecisions(c, params) {
  const { decisions, nextCursor } = await client.decisions({
    queue: params.queue,
    before: params.before,
    limit: 100,
  });
  c.querySelector("h1") ?? c.append(h("h1", {}, "Policy decisions"));
  section(c, "table", () =>
    decisions.length === 0
      ? empty(
        "No enqueue has been denied. Denials (QUEUE_FULL, ENQUEUE_RATE_EXCEEDED, PAYLOAD_TOO_LARGE…) are listed here.",
      )
      : [
        objectTable(decisions, ["at", "queue", "code", "detail", "tokenName"], {
          dataset: { table: "decisions" },
        }),
        nextCursor
          ? h(
            "div",
            { class: "pager" },
            h(
              "a",
              { class: "button", href: `#/decisions${qs({ ...params, before: nextCursor })}` },
              "Older →",
            ),
          )
          : null,
      ]);
}
