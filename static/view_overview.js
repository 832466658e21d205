// The overview: status with its reasons, headline numbers, alerts, charts, queues.
import { client, WAITING } from "./client.js";
import { dataTable, h, objectTable, section } from "./dom.js";
import { age, fmt } from "./format.js";
import { colorOf, lineChart } from "./chart.js";
import { queuesTable } from "./view_queues.js";
import { telemetryPanel } from "./overview_telemetry.js";

const WINDOWS = { "1h": ["last hour", 3_600_000], "24h": ["last 24 hours", 86_400_000] };

const stat = (label, value, ...more) =>
  h("div", { class: "panel stat" }, h("div", { class: "label" }, label), value, ...more);

export async function viewOverview(c, params = {}) {
  const window = params.window === "24h" ? "24h" : "1h";
  const [{ queues }, ops, { workers }, alerts, stats, history] = await Promise.all([
    client.queues(),
    client.opsQueues(),
    client.workers(),
    client.alerts(),
    client.throughput(),
    client.history(window),
  ]);
  const online = workers.filter((w) => w.state === "online");
  const total = (s) => queues.reduce((a, q) => a + (q.counts[s] ?? 0), 0);
  // Counted in the status too (its reasons name them): held > running, running > concurrency.
  const stalled = ops.workers.filter((w) => w.stalled);

  c.querySelector("h1") ?? c.append(h("h1", {}, "Overview"));
  section(c, "status", () =>
    h(
      "div",
      { class: "grid" },
      stat(
        "Status",
        h("div", { class: `big s-${ops.status}` }, ops.status),
        ops.reasons.length ? h("div", { class: "muted" }, ops.reasons.join("; ")) : null,
      ),
      stat("Workers online", h("div", { class: "big" }, fmt(online.length))),
      stat(
        "Waiting / running",
        h(
          "div",
          { class: "big" },
          `${fmt(WAITING.reduce((a, s) => a + total(s), 0))} / ${fmt(total("running"))}`,
        ),
      ),
      stat(
        "Last 5 minutes",
        rateLine(ops.totals),
        stalled.length
          ? h(
            "div",
            { class: "s-dead", dataset: { stalled: String(stalled.length) } },
            `${stalled.length} stalled worker${stalled.length === 1 ? "" : "s"}`,
          )
          : null,
      ),
      stat(
        "Dead letters",
        h("div", { class: `big${total("dead") ? " s-dead" : ""}` }, fmt(total("dead"))),
        h("a", { href: "#/dlq" }, "Open the dead-letter queue"),
      ),
    ));

  section(c, "telemetry", () => telemetryPanel(ops.telemetry));

  section(c, "alerts", () => [
    h("h2", {}, "Firing alerts"),
    alerts.firing.length === 0
      ? h("p", { class: "muted", dataset: { alerts: "none" } }, "No alert is firing.")
      : objectTable(alerts.firing, ["name", "subject", "value", "threshold", "firedAt"]),
    alerts.pending.length === 0 ? null : h(
      "p",
      { class: "muted" },
      `Pending: ${
        alerts.pending.map((a) => a.subject ? `${a.name} (${a.subject})` : a.name).join(", ")
      }`,
    ),
  ]);

  const now = Date.now();
  const pts = (f) => stats.buckets.map((x) => [Date.parse(x.at), f(x)]);
  const throughput = [
    { name: "succeeded / min", points: pts((x) => x.succeeded), color: "#1a7f37" },
    { name: "dead / min", points: pts((x) => x.dead), color: "#cf222e" },
    { name: "failed attempts / min", points: pts((x) => x.failed), color: "#9a6700" },
  ];
  const failureRate = [{
    name: "failure rate",
    points: pts((x) => {
      const bad = x.failed + x.dead;
      return bad + x.succeeded ? bad / (bad + x.succeeded) : 0;
    }),
    color: "#cf222e",
  }];
  // Every queue, from the maintenance counter's samples: drawn for hours the page was closed.
  const depthSeries = history.queues.map((q, i) => ({
    name: `${q.name} waiting`,
    points: q.points.map((p) => [Date.parse(p.at), p.waiting]),
    color: colorOf(i),
  }));
  const range = { xMin: now - WINDOWS["1h"][1], xMax: now };
  const depthRange = { xMin: now - WINDOWS[window][1], xMax: now };
  section(c, "charts", () =>
    h(
      "div",
      { class: "grid" },
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Throughput, last hour"),
        lineChart({ series: throughput, ...range, yLabel: "Jobs per minute" }),
      ),
      h(
        "div",
        { class: "panel" },
        h("h2", {}, "Failure rate"),
        h("p", { class: "hint" }, "(failed attempts + dead) / finished attempts"),
        lineChart({ series: failureRate, ...range, yLabel: "Failure rate", percent: true }),
      ),
      h(
        "div",
        { class: "panel", dataset: { chart: "depth" } },
        h("h2", {}, `Queue depth, ${WINDOWS[window][0]}`),
        h(
          "p",
          { class: "hint row" },
          Object.entries(WINDOWS).map(([w, [label]]) =>
            w === window
              ? h("strong", {}, label)
              : h("a", { href: `#/overview?window=${w}`, dataset: { window: w } }, label)
          ),
        ),
        lineChart({ series: depthSeries, ...depthRange, yLabel: "Jobs waiting" }),
        h(
          "p",
          { class: "hint" },
          `Sampled by maintenance every minute, kept a day; ${
            history.bucketMs > 60_000 ? `${history.bucketMs / 60_000}-minute peaks` : "per minute"
          }.`,
        ),
      ),
    ));
  section(c, "queues", () => [h("h2", {}, "Queues"), queuesTable(queues)]);
  section(c, "rates", () => [
    h("h2", {}, "Per queue, last 5 minutes"),
    dataTable(
      { dataset: { table: "rates" } },
      [
        { label: "Queue", cell: (q) => h("a", { href: `#/queues/${q.name}` }, q.name) },
        { label: "Jobs per minute", cls: "num", cell: (q) => fmt(q.rates.jobsPerMinute) },
        { label: "Failure", cls: "num", cell: (q) => pct(q.rates.failurePercent) },
        { label: "Wait p95", cls: "num", cell: (q) => waitText(q.rates.p95WaitMs) },
      ],
      [...ops.queues, { name: "all queues", rates: ops.totals }],
      (q) => ({
        dataset: { rates: q.name },
      }),
    ),
  ]);
}

const pct = (p) => (p == null ? "—" : `${p}%`);
const waitText = (ms) => (ms == null ? "—" : ms < 1000 ? `${ms} ms` : age(ms));

/** The headline numbers: jobs/min, failure %, p95 wait (due → started). */
function rateLine(r) {
  return h(
    "div",
    { class: "big", dataset: { totals: "" } },
    `${fmt(r.jobsPerMinute)}/min · ${pct(r.failurePercent)} failed · p95 wait ${
      waitText(r.p95WaitMs)
    }`,
  );
}
