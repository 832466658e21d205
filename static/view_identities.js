// OIDC identities beside the tokens: a workload's ID token (issuer + subject, or issuer +
// verified email) granted a scope. Listed with last use; added and revoked here.
import { client, SCOPES } from "./client.js";
import { chip, dataTable, empty, h, section, time } from "./dom.js";
import { act, revokeButton } from "./live.js";

function identityForm(issuer) {
  const iss = h("input", {
    id: "id-issuer",
    value: issuer ?? "",
    required: !issuer,
    placeholder: "https://token.actions.githubusercontent.com",
  });
  const match = h(
    "select",
    { id: "id-match" },
    h("option", { value: "subject" }, "subject"),
    h("option", { value: "email" }, "verified email"),
  );
  const value = h("input", { id: "id-value", required: true, placeholder: "repo:acme/app:ref:…" });
  const scope = h("select", { id: "id-scope" }, SCOPES.map((s) => h("option", { value: s }, s)));
  return h(
    "form",
    {
      class: "panel filters",
      dataset: { form: "identity" },
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = {
          ...(iss.value.trim() ? { issuer: iss.value.trim() } : {}),
          [match.value]: value.value.trim(),
          scope: scope.value,
        };
        const r = await act({
          run: () => client.addIdentity(body),
          done: (r) => `Identity ${r.identity.name} granted ${r.identity.scope}`,
        });
        if (r) value.value = "";
      },
    },
    h("div", { class: "field" }, h("label", { for: "id-issuer" }, "Issuer"), iss),
    h("div", { class: "field" }, h("label", { for: "id-match" }, "Match on"), match),
    h("div", { class: "field" }, h("label", { for: "id-value" }, "Subject or email"), value),
    h("div", { class: "field" }, h("label", { for: "id-scope" }, "Scope"), scope),
    h("button", { type: "submit", class: "primary" }, "Grant identity"),
  );
}

const revoke = (i) =>
  revokeButton(
    "identity",
    i,
    "ID tokens for it are refused within seconds.",
    () => client.revokeIdentity(i.id),
  );

/** The identities section of the Tokens view (admins only: the caller checks). */
export async function identitiesSection(c) {
  const { issuer, identities } = await client.identities();
  if (!c.querySelector("[data-form=identity]")) {
    section(c, "identities-head", () => [
      h("h2", {}, "Workload identities (OIDC)"),
      identityForm(issuer),
    ]);
  }
  section(
    c,
    "identities",
    () =>
      identities.length === 0
        ? empty(
          "No identity is granted a scope. Grant one to let a workload call with its ID token.",
        )
        : dataTable(
          { dataset: { table: "identities" } },
          [
            { label: "Name", cell: (i) => i.name },
            { label: "Issuer", cell: (i) => h("code", {}, i.issuer) },
            {
              label: "Matches",
              cell: (i) => i.subject !== null ? `subject ${i.subject}` : `email ${i.email}`,
            },
            { label: "Scope", cell: (i) => i.scope },
            {
              label: "State",
              cell: (i) => (i.revokedAt ? chip("cancelled", "revoked") : chip("ok", "active")),
            },
            { label: "Last used", cell: (i) => time(i.lastUsedAt) },
            { label: "Created", cell: (i) => time(i.createdAt) },
            { label: "Actions", attrs: () => ({ class: "row" }), cell: revoke },
          ],
          identities,
          (i) => ({ dataset: { identity: i.name } }),
        ),
  );
}
