// Cron schedules: create, pause/resume, delete, and why a failing one could not fire.
import { canMutate, client } from "./client.js";
import { chip, dataTable, empty, h, jobLink, section, time } from "./dom.js";
import { act, mutateButton } from "./live.js";

function stateCell(s) {
  return [
    s.paused ? chip("paused") : s.failingSince ? chip("firing", "failing") : chip("ok", "active"),
    // Why its last slot could not fire (a deleted queue, a refused payload).
    s.failingSince
      ? h("div", { class: "muted", title: s.lastError }, String(s.lastError).slice(0, 120))
      : null,
  ];
}

function actionsCell(s) {
  return [
    mutateButton("Run now", {
      confirm: {
        title: `Run schedule ${s.name} now?`,
        body: `Enqueues one ${s.kind} job on ${s.queue} now; the next slot stays as it is.`,
        ok: "Run now",
      },
      run: () => client.runSchedule(s.name),
      done: (r) => jobLink(`Schedule ${s.name} enqueued job `, r.jobId),
    }),
    s.paused
      ? mutateButton("Resume", {
        run: () => client.scheduleAction(s.name, "resume"),
        done: "Schedule resumed",
      })
      : mutateButton("Pause", {
        run: () => client.scheduleAction(s.name, "pause"),
        done: "Schedule paused",
      }),
    mutateButton("Delete", {
      confirm: {
        title: `Delete schedule ${s.name}?`,
        body: "Jobs it already enqueued are kept.",
        ok: "Delete",
      },
      run: () => client.deleteSchedule(s.name),
      done: "Schedule deleted",
    }, "danger"),
  ];
}

function scheduleForm() {
  const f = {};
  const field = (k, label, el) => {
    f[k] = el;
    el.id = `s-${k}`;
    return h("div", { class: "field" }, h("label", { for: el.id }, label), el);
  };
  const err = h("p", { class: "error", role: "alert", hidden: true });
  return h(
    "form",
    {
      class: "panel filters",
      onsubmit: async (ev) => {
        ev.preventDefault();
        let payload;
        try {
          payload = f.payload.value.trim() ? JSON.parse(f.payload.value) : {};
        } catch (e) {
          err.textContent = `Payload is not JSON: ${e.message}`;
          err.hidden = false;
          return;
        }
        err.hidden = true;
        const body = {
          name: f.name.value.trim(),
          cron: f.cron.value.trim(),
          queue: f.queue.value.trim(),
          kind: f.kind.value.trim(),
          payload,
        };
        if (f.timezone.value.trim()) body.timezone = f.timezone.value.trim();
        const r = await act({
          run: () => client.createSchedule(body),
          done: `Schedule ${body.name} created`,
        });
        if (r) ev.target.reset();
      },
    },
    field("name", "Name", h("input", { required: true })),
    field("cron", "Cron", h("input", { required: true, placeholder: "*/5 * * * *" })),
    field("timezone", "Time zone", h("input", { placeholder: "UTC" })),
    field("queue", "Queue", h("input", { required: true, value: "default" })),
    field("kind", "Kind", h("input", { required: true })),
    field("payload", "Payload (JSON)", h("input", { placeholder: "{}" })),
    h("button", { type: "submit", class: "primary" }, "Create schedule"),
    err,
  );
}

export async function viewSchedules(c) {
  const { schedules } = await client.schedules();
  if (!c.querySelector("h1")) {
    c.append(h("h1", {}, "Schedules"));
    if (canMutate()) c.append(scheduleForm());
  }
  section(c, "table", () => {
    if (schedules.length === 0) {
      return empty(
        "No schedules. Create one above or with ",
        h("code", {}, "sluice schedule create"),
        ".",
      );
    }
    return dataTable({ dataset: { table: "schedules" } }, [
      { label: "Name", cell: (s) => s.name },
      { label: "Cron", cls: "mono", cell: (s) => [s.cron, s.timezone ? ` (${s.timezone})` : ""] },
      { label: "Queue", cell: (s) => s.queue },
      { label: "Kind", cls: "mono", cell: (s) => s.kind },
      { label: "State", cell: stateCell },
      {
        label: "Next run",
        cell: (s) => (s.paused ? h("span", { class: "muted" }, "paused") : time(s.nextSlot)),
      },
      {
        label: "Last run",
        cell: (s) => [
          time(s.lastFiredAt),
          s.lastJobId
            ? h("a", { class: "mono", href: `#/jobs/${s.lastJobId}` }, ` #${s.lastJobId}`)
            : null,
        ],
      },
      ...(canMutate()
        ? [{ label: "Actions", attrs: () => ({ class: "row" }), cell: actionsCell }]
        : []),
    ], schedules);
  });
}
