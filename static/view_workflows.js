// Workflows: the list, and one workflow as a graph (nodes coloured by state, each a link to
// its job) with its nodes in a table.
import { canMutate, client } from "./client.js";
import { chip, dataTable, empty, h, section, time } from "./dom.js";
import { layout } from "./graph.js";
import { mutateButton } from "./live.js";

const W = 150, H = 44, GAP_X = 60, GAP_Y = 18;

const wfChip = (state) => chip(state === "failed" ? "dead" : state, state);

const countsText = (counts) =>
  Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ") || "—";

function graph(wf) {
  const at = layout(wf.nodes);
  const cols = Math.max(0, ...[...at.values()].map((p) => p.col)) + 1;
  const rows = Math.max(0, ...[...at.values()].map((p) => p.row)) + 1;
  const x = (k) => at.get(k).col * (W + GAP_X) + 1;
  const y = (k) => at.get(k).row * (H + GAP_Y) + 1;
  const edges = wf.nodes.flatMap((n) =>
    n.dependsOn.filter((p) => at.has(p)).map((p) =>
      h("svg:line", {
        class: "wf-edge",
        x1: x(p) + W,
        y1: y(p) + H / 2,
        x2: x(n.key),
        y2: y(n.key) + H / 2,
        "marker-end": "url(#wf-arrow)",
      })
    )
  );
  const nodes = wf.nodes.map((n) =>
    h(
      "svg:a",
      { href: `#/jobs/${n.jobId}`, class: `wf-node s-${n.state}`, dataset: { key: n.key } },
      h("svg:title", {}, `${n.key}: job ${n.jobId}, ${n.state}`),
      h("svg:rect", { x: x(n.key), y: y(n.key), width: W, height: H, rx: 6 }),
      h("svg:text", { x: x(n.key) + 10, y: y(n.key) + 18 }, n.key.slice(0, 18)),
      h("svg:text", { x: x(n.key) + 10, y: y(n.key) + 35, class: "wf-state" }, n.state),
    )
  );
  const width = cols * (W + GAP_X) - GAP_X + 2, height = rows * (H + GAP_Y) - GAP_Y + 2;
  return h(
    "div",
    { class: "panel wf-graph" },
    h(
      "svg:svg",
      {
        viewBox: `0 0 ${width} ${height}`,
        width,
        height,
        role: "img",
        "aria-label": `Workflow ${wf.name}: ${countsText(wf.counts)}`,
      },
      h(
        "svg:defs",
        {},
        h(
          "svg:marker",
          {
            id: "wf-arrow",
            viewBox: "0 0 10 10",
            refX: 10,
            refY: 5,
            markerWidth: 6,
            markerHeight: 6,
            orient: "auto",
          },
          h("svg:path", { d: "M0,0 L10,5 L0,10 z", class: "wf-arrow" }),
        ),
      ),
      edges,
      nodes,
    ),
  );
}

export async function viewWorkflow(c, _params, id) {
  const { workflow: wf } = await client.workflow(id);
  if (!c.querySelector("h1")) {
    c.append(h("h1", {}, `Workflow ${wf.name} `, h("span", { class: "muted mono" }, `#${wf.id}`)));
  }
  section(c, "head", () =>
    h(
      "div",
      { class: "row" },
      wfChip(wf.state),
      h("span", {}, ` ${countsText(wf.counts)} · created `, time(wf.createdAt)),
      canMutate() && wf.state === "running"
        ? mutateButton("Cancel workflow", {
          confirm: {
            title: `Cancel workflow ${wf.name}?`,
            body:
              "Nodes that have not finished are cancelled; running ones stop at their next heartbeat.",
            ok: "Cancel workflow",
          },
          run: () => client.cancelWorkflow(wf.id),
          done: "Workflow cancelled",
        }, "danger")
        : null,
    ));
  section(c, "graph", () => graph(wf));
  section(c, "nodes", () =>
    dataTable({ dataset: { table: "workflow-nodes" } }, [
      { label: "Key", cell: (n) => n.key },
      {
        label: "Job",
        cls: "mono",
        cell: (n) => h("a", { href: `#/jobs/${n.jobId}` }, `#${n.jobId}`),
      },
      { label: "Kind", cls: "mono", cell: (n) => n.kind },
      { label: "State", cell: (n) => chip(n.state) },
      { label: "Depends on", cell: (n) => n.dependsOn.join(", ") || "—" },
    ], wf.nodes));
}

export async function viewWorkflows(c, params) {
  const { workflows } = await client.workflows(params);
  if (!c.querySelector("h1")) c.append(h("h1", {}, "Workflows"));
  section(c, "table", () => {
    if (workflows.length === 0) {
      return empty("No workflows. Create one with ", h("code", {}, "POST /v1/workflows"), ".");
    }
    return dataTable({ dataset: { table: "workflows" } }, [
      {
        label: "Workflow",
        cell: (w) =>
          h(
            "a",
            { href: `#/workflows/${w.id}` },
            w.name,
            h("span", { class: "muted mono" }, ` #${w.id}`),
          ),
      },
      { label: "State", cell: (w) => wfChip(w.state) },
      { label: "Nodes", cell: (w) => countsText(w.counts) },
      { label: "Created", cell: (w) => time(w.createdAt) },
    ], workflows);
  });
}
