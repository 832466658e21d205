import { deepStrictEqual, equal, match, notEqual, ok as assert } from "node:assert/strict";
import { testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";
import { startIssuer } from "./_issuer.ts";
import { runSluice } from "../_helpers/sluice_cli.ts";

const sluice = runSluice;

Deno.test("sluice identity add, list, revoke, rotate-signing-key and signing-keys", async (t) => {
  await withTestDatabase(async (db) => {
    // A local issuer the child processes reach on loopback (`identity check` fetches its keys).
    const issuer = await startIssuer();
    const dir = await Deno.makeTempDir();
    const env = {
      ...testDatabaseEnv(db),
      SLUICE_OIDC_ISSUER: issuer.url,
      SLUICE_OIDC_AUDIENCE: "sluice",
      SLUICE_CALLBACK_OIDC_AUDIENCE: "sluice-callbacks",
      SLUICE_PUSH_KEY_SECRET: "cli-push-key-secret-0123456789abcdef",
    };
    try {
      await t.step("--help names every subcommand", async () => {
        const r = await sluice(["identity", "--help"], env);
        equal(r.code, 0);
        for (const s of ["add", "list", "revoke", "rotate-signing-key", "signing-keys"]) {
          assert(r.stdout.includes(`  ${s}`), s);
        }
      });
      await t.step(
        "add grants by subject (issuer from SLUICE_OIDC_ISSUER) and by email",
        async () => {
          const sub = "repo:octo/app:ref:refs/heads/main";
          const a = await sluice(["identity", "add", "--subject", sub, "--scope", "producer"], env);
          equal(a.code, 0, a.stderr);
          match(a.stdout, /identity 'repo:octo\/app:ref:refs\/heads\/main' \(producer\) granted/);
          const b = await sluice([
            "identity",
            "add",
            "--issuer",
            "https://accounts.google.com",
            "--email",
            "worker@proj.iam.gserviceaccount.com",
            "--scope",
            "worker",
            "--name",
            "cloud-run-worker",
          ], env);
          equal(b.code, 0, b.stderr);
          const dup = await sluice(["identity", "add", "--subject", sub, "--scope", "read"], env);
          notEqual(dup.code, 0);
          match(dup.stderr, /already exists/);
          const none = await sluice(["identity", "add", "--scope", "read"], env);
          equal(none.code, 2, none.stderr);
        },
      );
      await t.step("list, then revoke by name", async () => {
        const list = JSON.parse((await sluice(["identity", "list", "--json"], env)).stdout);
        equal(list[0].issuer, issuer.url);
        deepStrictEqual(list.map((i: { name: string; scope: string }) => [i.name, i.scope]), [
          ["repo:octo/app:ref:refs/heads/main", "producer"],
          ["cloud-run-worker", "worker"],
        ]);
        const r = await sluice(["identity", "revoke", "cloud-run-worker"], env);
        equal(r.code, 0, r.stderr);
        const again = await sluice(["identity", "revoke", "cloud-run-worker"], env);
        notEqual(again.code, 0);
      });
      await t.step(
        "check says what the api and the callback endpoint make of a token",
        async () => {
          const file = `${dir}/token`;
          const sub = "repo:octo/app:ref:refs/heads/main";
          await Deno.writeTextFile(file, await issuer.sign({ sub, aud: "sluice" }));
          const ok = await sluice(["identity", "check", "--token-file", file], env);
          equal(ok.code, 0, ok.stderr);
          match(
            ok.stdout,
            /accepted as an API caller: identity\/repo:octo\/app:ref:refs\/heads\/main \(producer\)/,
          );
          await Deno.writeTextFile(file, await issuer.sign({ sub: "stranger", aud: "sluice" }));
          const no = await sluice(["identity", "check", "--token-file", file], env);
          equal(no.code, 1);
          match(no.stderr, /IDENTITY_NOT_ALLOWED/);
          // A producer grant is not a callback caller (worker or admin only), and the audience differs.
          await Deno.writeTextFile(file, await issuer.sign({ sub, aud: "sluice-callbacks" }));
          const cb = await sluice(
            ["identity", "check", "--for", "callback", "--token-file", file],
            env,
          );
          match(cb.stderr, /IDENTITY_NOT_ALLOWED: identity '.*' has scope 'producer'/);
          const aud = await sluice(["identity", "check", "--token-file", file], env);
          match(aud.stderr, /AUDIENCE_MISMATCH/);
        },
      );
      await t.step("rotate-signing-key publishes a new, encrypted key", async () => {
        const first = await sluice(["identity", "rotate-signing-key", "--json"], env);
        equal(first.code, 0, first.stderr);
        const r1 = JSON.parse(first.stdout);
        equal(r1.next.encrypted, true);
        // The first key ever signs at once (nothing would sign while it waited).
        assert(Date.parse(r1.next.signsFrom) <= Date.now(), r1.next.signsFrom);
        const second = JSON.parse(
          (await sluice(
            ["identity", "rotate-signing-key", "--activate-after", "0s", "--json"],
            env,
          ))
            .stdout,
        );
        deepStrictEqual(second.retired.map((k: { kid: string }) => k.kid), [r1.next.kid]);
        const keys = JSON.parse((await sluice(["identity", "signing-keys", "--json"], env)).stdout);
        equal(keys.length, 2);
        equal(keys[1].publishedUntil, null);
      });
    } finally {
      await issuer.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
