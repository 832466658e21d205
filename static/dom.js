// DOM helpers. Rendering builds nodes with `h()` (never innerHTML with data), so job payloads
// and error messages cannot inject markup.
import { absolute, isIsoTime, label, relative } from "./format.js";

/**
 * h("div", {class: "x", onclick: fn, dataset: {a: "1"}}, ...children); "svg:path" for SVG.
 * @param {string} tag
 * @param {Record<string, unknown>|null} [attrs]
 * @param {...unknown} children
 */
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && !svg && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (sel) => document.querySelector(sel);

export function chip(state, text) {
  return h("span", { class: `chip s-${String(state).replace(/[^a-z-]/g, "")}` }, text ?? state);
}

/** "text" followed by a link to job `id`, for toasts and notes. */
export function jobLink(text, id) {
  return h("span", {}, text, h("a", { href: `#/jobs/${id}`, dataset: { jobLink: id } }, id));
}

/** `message` is text or nodes (links to new jobs). */
export function toast(message, bad = false) {
  const t = h("div", { class: `toast${bad ? " bad" : ""}` }, message);
  $("#toasts").append(t);
  setTimeout(() => t.remove(), bad ? 9_000 : 5_000);
}

export function errorBox(e) {
  return h(
    "div",
    { class: "banner bad", role: "alert" },
    h("strong", {}, e.code ?? "ERROR"),
    " ",
    e.message,
  );
}

/**
 * Asks before a state change. Focus starts on Cancel: Enter or a stray key press must not
 * run a destructive action.
 */
export function confirmDialog(title, body, okLabel = "Confirm") {
  const dlg = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-body").textContent = body;
  $("#confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
    $("#confirm-cancel").focus();
  });
}

/**
 * Re-renders a section in place only when its content changed, so polling does not steal
 * focus, reset scroll or clear what an operator is typing elsewhere on the page.
 */
export function section(container, id, build) {
  const old = container.querySelector(`[data-section="${id}"]`);
  const fresh = h("div", { dataset: { section: id } }, build());
  if (!old) {
    container.append(fresh);
    return;
  }
  // Keep a form the operator is using (focused, or edited and not yet saved).
  const form = old.querySelector("form");
  if (form && (old.contains(document.activeElement) || form.dataset.dirty)) return;
  if (old.innerHTML !== fresh.innerHTML) old.replaceWith(fresh);
}

/** Relative text with the absolute time in a tooltip and the datetime attribute. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: absolute(iso) }, relative(iso));
}

export function timeBoth(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h(
    "span",
    {},
    time(iso),
    h("span", { class: "muted" }, ` · ${new Date(iso).toLocaleString()}`),
  );
}

export function kv(k, v) {
  return [h("dt", {}, k), h("dd", {}, v ?? "—")];
}

export function empty(...children) {
  return h("div", { class: "empty panel" }, ...children);
}

/**
 * A table whose header cells carry `scope` and whose body cells carry their column's name in
 * `data-label`, which the narrow layout shows when rows become cards.
 * @param {Record<string, unknown>} attrs of the <table>
 * @param {{ label: string, cls?: string, cell: (row: any) => unknown, attrs?: (row: any) => Record<string, unknown> }[]} columns
 * @param {any[]} rows
 * @param {(row: any) => Record<string, unknown>} [rowAttrs]
 */
export function dataTable(attrs, columns, rows, rowAttrs = () => ({})) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "cards", ...attrs },
      h(
        "thead",
        {},
        h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.cls }, c.label))),
      ),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h(
            "tr",
            rowAttrs(r),
            columns.map((c) =>
              h("td", { class: c.cls, "data-label": c.label, ...c.attrs?.(r) }, c.cell(r))
            ),
          )
        ),
      ),
    ),
  );
}

/** A table of objects over the given keys, headed by their names in words. */
export function objectTable(rows, keys, attrs = {}) {
  const cell = (k, v) => {
    if (v == null) return "—";
    if (isIsoTime(v)) return time(v);
    if (k === "state" || k === "status") return chip(v);
    if (typeof v === "object") return h("code", {}, JSON.stringify(v));
    return String(v);
  };
  return dataTable(attrs, keys.map((k) => ({ label: label(k), cell: (r) => cell(k, r[k]) })), rows);
}

export function copyButton(text) {
  return h("button", {
    type: "button",
    class: "ghost",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        toast("Copied to the clipboard");
      } catch {
        toast("The browser refused clipboard access", true);
      }
    },
  }, "Copy");
}
