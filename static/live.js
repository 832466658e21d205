// The refresh loop of the current view: polls every 5 s (30 s in a background tab), backs
// off on failure, and during an outage keeps the last good data on screen, marked stale,
// until an answer comes back.
import { $, confirmDialog, h, toast } from "./dom.js";
import { canMutate } from "./client.js";
import { clock } from "./format.js";

const POLL_MS = 5_000;
const HIDDEN_POLL_MS = 30_000;
const MAX_BACKOFF_MS = 60_000;

let current = null; // { refresh }
let timer = null;
let failures = 0;
/** When the data on screen was last fetched in full (for "stale since"). */
let lastGood = null;

export function show(refresh) {
  current = { refresh };
  failures = 0;
  lastGood = null;
  return run(true);
}

export function stop() {
  clearTimeout(timer);
  current = null;
  setBanner(null);
}

export function refreshSoon() {
  clearTimeout(timer);
  timer = setTimeout(() => run(false), 150);
}

function setLive(state, title) {
  const live = $("#live");
  live.dataset.state = state;
  live.title = title;
  $("#live-text").textContent = { live: "Live", paused: "Paused", error: "Offline" }[state];
}

/** The outage banner over the view; `null` takes it away. */
function setBanner(e) {
  const b = $("#banner");
  if (!e) {
    b.hidden = true;
    b.replaceChildren();
    $("#view").classList.remove("stale");
    return;
  }
  b.hidden = false;
  b.replaceChildren(
    h("strong", {}, e.code ?? "ERROR"),
    " ",
    e.message,
    lastGood
      ? h(
        "span",
        { dataset: { staleSince: clock(lastGood) } },
        ` · showing data stale since ${clock(lastGood)}`,
      )
      : null,
  );
  $("#view").classList.toggle("stale", lastGood != null);
}

async function run(first) {
  clearTimeout(timer);
  if (!current) return;
  const mine = current;
  try {
    await mine.refresh(first);
    if (current !== mine) return;
    failures = 0;
    lastGood = Date.now();
    setBanner(null);
    setLive(
      document.hidden ? "paused" : "live",
      `Live: updated ${new Date().toLocaleTimeString()}`,
    );
  } catch (e) {
    if (current !== mine) return;
    failures++;
    setLive("error", `Update failed: ${e.code ?? ""} ${e.message}`);
    setBanner(e);
  }
  const base = document.hidden ? HIDDEN_POLL_MS : POLL_MS;
  timer = setTimeout(() => run(false), Math.min(MAX_BACKOFF_MS, base * 2 ** failures));
}

/** Runs a state-changing call with confirmation, a toast, and a refresh of the view. */
export async function act({ confirm, run, done }) {
  if (confirm && !(await confirmDialog(confirm.title, confirm.body, confirm.ok))) return null;
  try {
    const r = await run();
    if (done) toast(typeof done === "function" ? done(r) : done);
    refreshSoon();
    return r;
  } catch (e) {
    toast(`${e.code}: ${e.message}`, true);
    return null;
  }
}

export function mutateButton(label, opts, cls = "") {
  if (!canMutate()) return null;
  return h("button", {
    type: "button",
    class: cls,
    onclick: (ev) => {
      const b = ev.currentTarget;
      b.disabled = true;
      act(opts).finally(() => (b.disabled = false));
    },
  }, label);
}

/** Revoke a token or an identity: confirmed, and gone once revoked. */
export function revokeButton(what, item, body, run) {
  if (item.revokedAt) return null;
  return mutateButton("Revoke", {
    confirm: { title: `Revoke ${what} ${item.name}?`, body, ok: "Revoke" },
    run,
    done: `${what[0].toUpperCase()}${what.slice(1)} ${item.name} revoked`,
  }, "danger");
}
