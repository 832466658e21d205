// One job: why it is where it is, its facts, payload, failed attempts and timeline.
import { client, qs } from "./client.js";
import { chip, copyButton, h, kv, objectTable, section, timeBoth } from "./dom.js";
import { humanizeTimes, isIsoTime, label } from "./format.js";
import { mutateButton } from "./live.js";

function actions(job) {
  const id = job.id;
  const finished = ["dead", "cancelled", "succeeded"].includes(job.state);
  return [
    // Waiting on its time (a delay, or a retry's backoff): start it at the next lease instead.
    ["scheduled", "retrying"].includes(job.state)
      ? mutateButton("Run now", {
        run: () => client.runNow(id),
        done: `Job ${id} is available now`,
      }, "primary")
      : null,
    ["dead", "cancelled"].includes(job.state)
      ? mutateButton("Retry", {
        confirm: {
          title: `Retry job ${id}?`,
          body:
            "Creates a new job with the same payload, linked to this one. This job stays as it is.",
          ok: "Retry",
        },
        run: () => client.jobAction(id, "retry"),
        done: (r) => `Created job ${r.job.id}`,
      }, "primary")
      : null,
    finished
      ? mutateButton("Replay", {
        confirm: {
          title: `Replay job ${id}?`,
          body:
            "Creates a new job with the same payload, linked by retryOf. This job stays as it is.",
          ok: "Replay",
        },
        run: () => client.jobAction(id, "replay"),
        done: (r) => `Created job ${r.job.id}`,
      })
      : mutateButton("Cancel", {
        confirm: {
          title: `Cancel job ${id}?`,
          body: job.state === "running"
            ? "The running attempt is asked to stop; the job ends cancelled."
            : "The job will not run.",
          ok: "Cancel job",
        },
        run: () => client.jobAction(id, "cancel"),
        done: `Cancelled job ${id}`,
      }, "danger"),
  ];
}

/** Explain's facts in words, times as local time and distance from now, at any depth. */
function factText(v) {
  if (v == null) return "—";
  if (isIsoTime(v)) return humanizeTimes(v);
  if (Array.isArray(v)) return v.map(factText).join(", ");
  if (typeof v === "object") {
    return Object.entries(v).filter(([, x]) => x != null).map(([k, x]) =>
      `${label(k)}: ${factText(x)}`
    ).join(" · ");
  }
  return String(v);
}

function facts(job, children) {
  return h(
    "dl",
    { class: "kv" },
    kv("Id", job.id),
    kv("Queue", h("a", { href: `#/queues/${encodeURIComponent(job.queue)}` }, job.queue)),
    kv("Attempt", `${job.attempt} of ${job.maxAttempts}`),
    kv("Priority", job.priority),
    kv("Run at", timeBoth(job.runAt)),
    kv("Created", timeBoth(job.createdAt)),
    kv("Started", timeBoth(job.startedAt)),
    kv("Finished", timeBoth(job.finishedAt)),
    job.leaseExpiresAt ? kv("Lease expires", timeBoth(job.leaseExpiresAt)) : null,
    kv("Worker", job.workerId ?? "—"),
    job.deadReason ? kv("Dead reason", h("code", {}, job.deadReason)) : null,
    kv(
      "Tags",
      job.tags.length
        ? job.tags.map((t) => h("a", { class: "chip", href: `#/jobs${qs({ tag: t })}` }, t))
        : "—",
    ),
    job.idempotencyKey ? kv("Idempotency key", job.idempotencyKey) : null,
    kv(
      "Re-runs",
      job.retryOf
        ? h(
          "span",
          {},
          "this job re-runs ",
          h(
            "a",
            { href: `#/jobs/${job.retryOf}`, dataset: { lineage: "parent" } },
            `job ${job.retryOf}`,
          ),
        )
        : "original job",
    ),
    kv(
      "Re-run by",
      children.length
        ? children.map((k) =>
          h(
            "span",
            {},
            h("a", { href: `#/jobs/${k.id}`, dataset: { lineage: "child" } }, `job ${k.id}`),
            " ",
            chip(k.state),
            " ",
          )
        )
        : "none",
    ),
  );
}

export async function viewJob(c, _params, id) {
  const [{ job }, { timeline }, explain, { jobs: children }] = await Promise.all([
    client.job(id),
    client.timeline(id),
    client.explain(id),
    client.jobs({ retryOf: id, limit: 50 }),
  ]);
  c.querySelector("h1") ?? c.append(h("h1", {}, h("a", { href: "#/jobs" }, "Jobs"), ` / ${id}`));
  section(c, "head", () =>
    h(
      "div",
      { class: "spread" },
      h(
        "div",
        { class: "row" },
        chip(job.state),
        h("span", { class: "mono" }, job.kind),
        h("span", { class: "muted" }, `in ${job.queue}`),
      ),
      h("div", { class: "row" }, actions(job)),
    ));
  const factKeys = Object.keys(explain.facts).filter((k) => explain.facts[k] != null);
  section(c, "explain", () => [
    h("h2", {}, "Why is it here?"),
    h(
      "div",
      { class: "explain", dataset: { code: explain.code } },
      h("div", {}, humanizeTimes(explain.sentence)),
      factKeys.length
        ? h("dl", { class: "kv" }, factKeys.map((k) => kv(label(k), factText(explain.facts[k]))))
        : null,
      h("div", { class: "hint" }, h("code", {}, explain.code)),
    ),
  ]);
  const payload = JSON.stringify(job.payload, null, 2);
  section(c, "facts", () =>
    h(
      "div",
      { class: "grid" },
      h("div", { class: "panel" }, h("h2", {}, "Job"), facts(job, children)),
      h(
        "div",
        { class: "panel" },
        h("div", { class: "spread" }, h("h2", {}, "Payload"), copyButton(payload)),
        h("pre", { class: "json", dataset: { payload: "" } }, payload),
        job.result != null
          ? [
            h("h2", {}, "Result"),
            h("pre", { class: "json" }, JSON.stringify(job.result, null, 2)),
          ]
          : null,
      ),
    ));
  section(c, "attempts", () => [
    h("h2", {}, "Failed attempts"),
    job.errors.length === 0
      ? h("p", { class: "muted" }, "No attempt has failed.")
      : objectTable(job.errors, [
        "attempt",
        "code",
        "message",
        "worker",
        "startedAt",
        "at",
        "retryable",
      ]),
  ]);
  section(c, "timeline", () => [
    h("h2", {}, "Timeline"),
    timeline.length === 0 ? h("p", { class: "muted" }, "No events.") : h(
      "ol",
      { class: "timeline", dataset: { timeline: "" } },
      timeline.map((e) =>
        h(
          "li",
          { class: `t-${e.event}` },
          h("strong", {}, e.event.replaceAll("_", " ")),
          " ",
          timeBoth(e.at),
          e.attempt ? h("span", { class: "muted" }, ` · attempt ${e.attempt}`) : null,
          e.workerId ? h("span", { class: "muted" }, ` · ${e.workerId}`) : null,
          Object.keys(e.detail).length
            ? h("div", { class: "hint mono" }, factText(e.detail))
            : null,
        )
      ),
    ),
  ]);
}
