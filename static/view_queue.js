// One queue: state and counts, pause/resume/drain, its policies, its recent jobs.
import { canMutate, client, qs, STATES } from "./client.js";
import { chip, h, section, toast } from "./dom.js";
import { age, fmt } from "./format.js";
import { act, mutateButton } from "./live.js";
import { oldestWaitingMs } from "./view_queues.js";
import { jobsTable } from "./view_jobs.js";

// Policy form: field → how to show and parse it. Numbers: empty = no limit (null).
const POLICY_FIELDS = [
  ["concurrency", "Concurrency (all workers)", "int"],
  ["rateLimit", "Rate limit (count/per, e.g. 100/1m)", "rate"],
  ["maxPayloadBytes", "Max payload bytes", "int"],
  ["maxEnqueuePerMinute", "Max enqueues per minute", "int"],
  ["maxQueueSize", "Max queue size", "int"],
  ["maxAttempts", "Default max attempts", "int!"],
  ["backoff", "Backoff (base,max e.g. 1s,1h)", "backoff"],
  ["timeout", "Timeout (e.g. 30s)", "duration"],
  ["retention", "Retention (e.g. 7d)", "duration"],
];

function policyText(kind, v) {
  if (v == null) return "";
  if (kind === "rate") return `${v.count}/${v.per}`;
  if (kind === "backoff") return `${v.base},${v.max}`;
  return String(v);
}

const numberOr = (t) => (/^\d+$/.test(t) ? Number(t) : t);

function parsePolicy(kind, text) {
  const t = text.trim();
  if (t === "" || t === "none") return null;
  if (kind === "int" || kind === "int!") {
    if (!/^\d+$/.test(t)) throw new Error(`'${t}' is not a whole number`);
    return Number(t);
  }
  if (kind === "rate") {
    const [count, per] = t.split("/");
    if (!/^\d+$/.test(count ?? "") || !per) throw new Error(`'${t}' is not COUNT/DURATION`);
    return { count: Number(count), per: numberOr(per) };
  }
  if (kind === "backoff") {
    const [base, max] = t.split(",").map((s) => s.trim());
    if (!base || !max) throw new Error(`'${t}' is not BASE,MAX`);
    return { base: numberOr(base), max: numberOr(max) };
  }
  return numberOr(t);
}

const targetOf = (d) => d.url ?? (Array.isArray(d.command) ? d.command.join(" ") : d.command) ?? "";

function policyForm(q) {
  const ro = !canMutate();
  const inputs = {};
  const fields = POLICY_FIELDS.map(([key, label, kind]) => {
    const id = `p-${key}`;
    inputs[key] = h("input", {
      id,
      name: key,
      value: policyText(kind, q[key]),
      readOnly: ro,
      placeholder: kind === "int!" ? "" : "no limit",
    });
    return h("div", { class: "field" }, h("label", { for: id }, label), inputs[key]);
  });
  const mode = h(
    "select",
    { id: "p-mode", disabled: ro },
    ["inline", "exec", "http", "pull"].map((m) =>
      h("option", { value: m, selected: q.delivery.mode === m }, m)
    ),
  );
  const target = h("input", {
    id: "p-target",
    value: targetOf(q.delivery),
    readOnly: ro,
    placeholder: "URL (http) or command (exec)",
  });
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    {
      class: "panel",
      oninput: () => (form.dataset.dirty = "1"),
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.hidden = true;
        const patch = {};
        try {
          for (const [key, , kind] of POLICY_FIELDS) {
            if (inputs[key].value.trim() !== policyText(kind, q[key])) {
              patch[key] = parsePolicy(kind, inputs[key].value);
            }
          }
          const m = mode.value;
          const tgt = target.value.trim();
          if (m !== q.delivery.mode || tgt !== targetOf(q.delivery)) {
            patch.delivery = m === "http"
              ? { mode: m, url: tgt }
              : m === "exec"
              ? { mode: m, command: tgt }
              : { mode: m };
          }
        } catch (e) {
          err.textContent = e.message;
          err.hidden = false;
          return;
        }
        if (Object.keys(patch).length === 0) return toast("Nothing changed");
        const r = await act({
          run: () => client.patchQueue(q.name, patch),
          done: `Saved policies of ${q.name}`,
        });
        if (r) delete form.dataset.dirty; // the refresh re-renders it from the saved values
      },
    },
    h("h2", {}, "Policies"),
    h(
      "div",
      { class: "policy" },
      fields,
      h("div", { class: "field" }, h("label", { for: "p-mode" }, "Delivery mode"), mode),
      h("div", { class: "field" }, h("label", { for: "p-target" }, "Delivery target"), target),
    ),
    err,
    ro
      ? h(
        "p",
        { class: "hint" },
        "Read-only session: sign in with an admin token to change policies.",
      )
      : h(
        "div",
        { class: "row end" },
        h("button", { type: "submit", class: "primary" }, "Save policies"),
      ),
  );
  return form;
}

export async function viewQueue(c, _params, name) {
  const [{ queue: q }, { queues }, { jobs }] = await Promise.all([
    client.queue(name),
    client.queues(),
    client.jobs({ queue: name, limit: 20 }),
  ]);
  // The list answers the oldest waiting job too, so the detail reads its row.
  const counted = queues.find((x) => x.name === name);
  const counts = counted?.counts ?? {};
  c.querySelector("h1") ??
    c.append(h("h1", {}, h("a", { href: "#/queues" }, "Queues"), " / ", name));
  section(c, "head", () =>
    h(
      "div",
      { class: "spread" },
      h(
        "div",
        { class: "row" },
        q.paused ? chip("paused", "paused") : chip("online", "running"),
        STATES.map((s) => h("span", { class: "chip" }, `${s} ${fmt(counts[s] ?? 0)}`)),
        h(
          "span",
          { class: "muted" },
          `oldest waiting ${age(counted ? oldestWaitingMs(counted) : null)}`,
        ),
      ),
      h(
        "div",
        { class: "row" },
        q.paused
          ? mutateButton("Resume", {
            run: () => client.queueAction(name, "resume"),
            done: `Queue ${name} resumed`,
          }, "primary")
          : mutateButton("Pause", {
            confirm: {
              title: `Pause ${name}?`,
              body: "Workers stop leasing its jobs; enqueues are still accepted.",
              ok: "Pause",
            },
            run: () => client.queueAction(name, "pause"),
            done: `Queue ${name} paused`,
          }),
        mutateButton("Drain", {
          confirm: {
            title: `Drain ${name}?`,
            body:
              "Pauses the queue so no new job starts; running jobs finish and waiting jobs stay for when it resumes. Press Drain again to see whether it is empty.",
            ok: "Drain",
          },
          run: () => client.queueAction(name, "drain"),
          done: (r) =>
            r.drained
              ? `Queue ${name} is drained: paused, nothing running`
              : `Queue ${name} paused; ${fmt(r.counts.running ?? 0)} jobs still running`,
        }, "danger"),
      ),
    ));
  section(c, "policy", () => policyForm(q));
  section(c, "jobs", () => [
    h(
      "h2",
      {},
      "Recent jobs ",
      h("a", { href: `#/jobs${qs({ queue: name })}`, class: "hint" }, "search all"),
    ),
    jobsTable(jobs),
  ]);
}
