// API tokens for admins: create with a scope (the secret is shown once, here), the list with
// last use, revoke (its sessions end with it); the OIDC identities below them.
import { canMutate, client, SCOPES } from "./client.js";
import { chip, copyButton, dataTable, empty, h, section, time } from "./dom.js";
import { act, revokeButton } from "./live.js";
import { identitiesSection } from "./view_identities.js";

/** The one place a new secret appears: gone at the next navigation, never fetched again. */
function secretPanel(name, secret) {
  return h(
    "div",
    { class: "panel", role: "status", dataset: { secret: "" } },
    h("h2", {}, `Token ${name} created`),
    h("p", {}, "Store the secret now: it is shown once and cannot be read again."),
    h(
      "div",
      { class: "row" },
      h("code", { class: "mono", dataset: { secretValue: "" } }, secret),
      copyButton(secret),
    ),
  );
}

function tokenForm(c) {
  const name = h("input", { id: "tk-name", required: true, placeholder: "billing-producer" });
  const scope = h(
    "select",
    { id: "tk-scope" },
    SCOPES.map((s) => h("option", { value: s }, s)),
  );
  return h(
    "form",
    {
      class: "panel filters",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = { name: name.value.trim(), scope: scope.value };
        const r = await act({
          run: () => client.createToken(body),
          done: `Token ${body.name} created`,
        });
        if (!r) return;
        ev.target.reset();
        c.querySelector("[data-secret]")?.remove();
        ev.target.after(secretPanel(r.token.name, r.secret));
      },
    },
    h("div", { class: "field" }, h("label", { for: "tk-name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "tk-scope" }, "Scope"), scope),
    h("button", { type: "submit", class: "primary" }, "Create token"),
  );
}

const revoke = (t) =>
  revokeButton(
    "token",
    t,
    "Every request with it is refused from now on, and its ops page sessions end.",
    () => client.revokeToken(t.name),
  );

export async function viewTokens(c) {
  if (!canMutate()) {
    c.querySelector("h1") ?? c.append(h("h1", {}, "Tokens"));
    section(c, "table", () => empty("Only an admin token can see and manage tokens."));
    return;
  }
  const { tokens } = await client.tokens();
  if (!c.querySelector("h1")) c.append(h("h1", {}, "Tokens"), tokenForm(c));
  section(c, "table", () =>
    dataTable(
      { dataset: { table: "tokens" } },
      [
        { label: "Name", cell: (t) => t.name },
        {
          label: "Scope",
          cell: (t) => t.scope,
        },
        {
          label: "State",
          cell: (t) => (t.revokedAt ? chip("cancelled", "revoked") : chip("ok", "active")),
        },
        { label: "Last used", cell: (t) => time(t.lastUsedAt) },
        { label: "Created", cell: (t) => time(t.createdAt) },
        { label: "Revoked", cell: (t) => time(t.revokedAt) },
        { label: "Actions", attrs: () => ({ class: "row" }), cell: revoke },
      ],
      tokens,
      (t) => ({ dataset: { token: t.name } }),
    ));
  await identitiesSection(c);
}
