import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";

const problems = (env: Record<string, string>) => {
  const r = loadConfig(env);
  return r.ok ? [] : r.problems;
};

Deno.test("loadConfig() reads the OIDC variables and refuses half a setup", async (t) => {
  await t.step("a complete setup", () => {
    const r = loadConfig({
      SLUICE_OIDC_ISSUER: "https://accounts.google.com",
      SLUICE_OIDC_AUDIENCE: "https://sluice.example.com, sluice",
      SLUICE_OIDC_CLOCK_SKEW: "30s",
      SLUICE_CALLBACK_OIDC_AUDIENCE: "https://sluice.example.com/v1/callbacks",
      SLUICE_CALLBACK_OIDC_MODE: "both",
      SLUICE_CALLBACK_OIDC_EMAILS: "Worker@proj.iam.gserviceaccount.com",
      SLUICE_PUSH_OIDC_ISSUER: "https://sluice.example.com",
      SLUICE_PUSH_KEY_SECRET: "k".repeat(32),
    });
    assert(r.ok, r.ok ? "" : r.problems.join(" | "));
    const c = r.config;
    deepStrictEqual(c.oidcAudience, ["https://sluice.example.com", "sluice"]);
    equal(c.oidcClockSkewMs, 30_000);
    equal(c.callbackOidcMode, "both");
    deepStrictEqual(c.callbackOidcEmails, ["worker@proj.iam.gserviceaccount.com"]);
    equal(c.pushTokenLifetimeMs, 300_000);
  });
  await t.step("off by default", () => {
    const r = loadConfig({});
    assert(r.ok);
    equal(r.config.oidcIssuer, null);
    equal(r.config.pushKeySecret, null);
  });
  await t.step("an issuer without any audience", () => {
    const p = problems({ SLUICE_OIDC_ISSUER: "https://issuer.example" });
    assert(p.some((m) => m.includes("SLUICE_OIDC_AUDIENCE")), p.join(" | "));
  });
  await t.step("an audience without an issuer", () => {
    const p = problems({ SLUICE_OIDC_AUDIENCE: "x" });
    assert(p.some((m) => m.includes("need SLUICE_OIDC_ISSUER")), p.join(" | "));
  });
  await t.step("a plain-http issuer off loopback, a URL and a file at once", () => {
    const p = problems({
      SLUICE_OIDC_ISSUER: "http://issuer.example",
      SLUICE_OIDC_AUDIENCE: "x",
      SLUICE_OIDC_JWKS_URL: "https://issuer.example/jwks",
      SLUICE_OIDC_JWKS_FILE: "/etc/sluice/jwks.json",
    });
    assert(p.some((m) => m.includes("must use https://")), p.join(" | "));
    const q = problems({
      SLUICE_OIDC_ISSUER: "https://issuer.example",
      SLUICE_OIDC_AUDIENCE: "x",
      SLUICE_OIDC_JWKS_URL: "https://issuer.example/jwks",
      SLUICE_OIDC_JWKS_FILE: "/etc/sluice/jwks.json",
    });
    assert(q.some((m) => m.includes("give one, not both")), q.join(" | "));
  });
  await t.step("Sluice's own push issuer is never an accepted issuer", () => {
    const p = problems({
      SLUICE_OIDC_ISSUER: "https://sluice.example.com/",
      SLUICE_OIDC_AUDIENCE: "x",
      SLUICE_PUSH_OIDC_ISSUER: "https://sluice.example.com",
    });
    assert(p.some((m) => m.includes("own push issuer")), p.join(" | "));
  });
  await t.step("a short push key secret and an unknown callback mode", () => {
    const p = problems({ SLUICE_PUSH_KEY_SECRET: "short", SLUICE_CALLBACK_OIDC_MODE: "any" });
    assert(p.some((m) => m.startsWith("SLUICE_PUSH_KEY_SECRET")), p.join(" | "));
    assert(p.some((m) => m.startsWith("SLUICE_CALLBACK_OIDC_MODE")), p.join(" | "));
  });
});
