import { equal, ok as assert, rejects } from "node:assert/strict";
import { verifyArchive } from "../../src/backup/archive.ts";
import { backupDatabase } from "../../src/backup/backup.ts";
import { backupKey, backupKeyId } from "../../src/backup/key.ts";
import { restoreDatabase } from "../../src/backup/restore.ts";
import { generateToken, hashToken } from "../../src/auth/tokens.ts";
import { type ErrorCode, isSluiceError } from "../../src/errors.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { type Sql, testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";
import { sluice } from "./_cli.ts";
import { forgeArchive, type Forgery } from "./_forge.ts";

const dir = await Deno.makeTempDir({ prefix: "sluice-backup-signature-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* best effort */ }
});

const KEY = "backup-key-for-tests-0123456789abcdef";
const OTHER_KEY = "another-backup-key-9876543210-fedcba";

/** The attack: an admin token the attacker knows, appended to `tokens`. */
async function injectAdmin(sign: Forgery["sign"]): Promise<Forgery> {
  return {
    append: {
      table: "tokens",
      rows: [{
        id: "424242",
        name: "intruder",
        scope: "admin",
        hash: await hashToken(generateToken()),
        created_at: "2026-01-01 00:00:00+00",
      }],
    },
    sign,
  };
}

async function intruders(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM sluice.tokens WHERE name = 'intruder'`;
  return row!.n;
}

function refusedWith(code: ErrorCode, text: string) {
  return (e: unknown) => {
    assert(isSluiceError(e, code), `expected ${code}, got ${e}`);
    assert(e.message.includes(text), e.message);
    return true;
  };
}

async function open(file: string) {
  return (await Deno.open(file, { read: true })).readable;
}

Deno.test("restoreDatabase() with a backup key refuses an edited archive with recomputed checksums", async (t) => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      const key = backupKey(KEY);
      const signed = `${dir}/signed.backup`;
      await enqueueJobs(source.sql, [{ kind: "sig.a" }, { kind: "sig.b" }]);
      const f = await Deno.open(signed, { write: true, createNew: true });
      const written = await backupDatabase(source.sql, f.writable, { key });
      equal(written.header.signedWith?.keyId, backupKeyId(KEY));
      equal(written.trailer.signature?.keyId, backupKeyId(KEY));

      await t.step("the forged archive passes every plain checksum", async () => {
        await forgeArchive(signed, `${dir}/copied.backup`, await injectAdmin("copy"));
        await forgeArchive(signed, `${dir}/unsigned.backup`, await injectAdmin(null));
        // Without a key, nothing tells them from the real one: the reason for the key.
        await verifyArchive(await open(`${dir}/copied.backup`), "copied");
        await verifyArchive(await open(`${dir}/unsigned.backup`), "unsigned");
      });

      await t.step(
        "with the key, a copied signature is refused and nothing is written",
        async () => {
          const file = `${dir}/copied.backup`;
          const invalid = refusedWith("BACKUP_SIGNATURE_INVALID", "changed after it was written");
          await rejects(verifyArchive(await open(file), file, { key }), invalid);
          await rejects(
            restoreDatabase(target.sql, await open(file), { key, source: file }),
            invalid,
          );
          equal(await intruders(target.sql), 0);
          const [jobs] = await target.sql<
            { n: number }[]
          >`SELECT count(*)::int AS n FROM sluice.jobs`;
          equal(jobs!.n, 0, "the target is as it was");
        },
      );

      await t.step("with the key, an unsigned archive is refused at its header", async () => {
        const file = `${dir}/unsigned.backup`;
        const unsigned = refusedWith(
          "BACKUP_UNSIGNED",
          "is unsigned, and a backup key is configured",
        );
        await rejects(verifyArchive(await open(file), file, { key }), unsigned);
        await rejects(
          restoreDatabase(target.sql, await open(file), { key, source: file }),
          unsigned,
        );
        equal(await intruders(target.sql), 0);
      });

      await t.step("an archive signed with the attacker's own key is a key mismatch", async () => {
        const file = `${dir}/own-key.backup`;
        await forgeArchive(signed, file, await injectAdmin(backupKey(OTHER_KEY)));
        const mismatch = refusedWith(
          "BACKUP_KEY_MISMATCH",
          `signed with backup key '${backupKeyId(OTHER_KEY)}', but the configured ` +
            `SLUICE_BACKUP_KEY is key '${key.keyId}'`,
        );
        await rejects(
          restoreDatabase(target.sql, await open(file), { key, source: file }),
          mismatch,
        );
        equal(await intruders(target.sql), 0);
      });

      await t.step("a genuine archive read with the wrong key is a key mismatch", async () => {
        await rejects(
          verifyArchive(await open(signed), signed, { key: backupKey(OTHER_KEY) }),
          refusedWith("BACKUP_KEY_MISMATCH", "older archives need the old key"),
        );
      });

      await t.step("the signed archive restores with its key", async () => {
        const r = await restoreDatabase(target.sql, await open(signed), { key, source: signed });
        equal(r.trailer.totalRows, written.trailer.totalRows);
        const kinds = await target.sql<
          { kind: string }[]
        >`SELECT kind FROM sluice.jobs ORDER BY kind`;
        equal(kinds.map((k) => k.kind).join(","), "sig.a,sig.b");
      });
    });
  });
});

Deno.test("sluice backup signs with SLUICE_BACKUP_KEY_FILE; verify and restore refuse a forged archive, warn without a key", async (t) => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      const keyFile = `${dir}/backup.key`;
      await Deno.writeTextFile(keyFile, `${KEY}\n`, { mode: 0o600 });
      const withKey = { SLUICE_BACKUP_KEY_FILE: keyFile };
      const signed = `${dir}/cli-signed.backup`;
      const forged = `${dir}/cli-forged.backup`;
      const keyId = backupKeyId(KEY);
      await enqueueJobs(source.sql, [{ kind: "cli.sig" }]);

      await t.step("backup with a key signs it and warns about nothing", async () => {
        const r = await sluice(["backup", "--out", signed], {
          ...testDatabaseEnv(source),
          ...withKey,
        });
        equal(r.code, 0, r.stderr);
        equal(r.stdout + r.stderr, "");
        await forgeArchive(signed, forged, await injectAdmin("copy"));
      });

      await t.step("backup verify with the key checks the signature", async () => {
        const r = await sluice(["backup", "verify", signed], withKey);
        equal(r.code, 0, r.stderr);
        equal(r.stderr, "");
        assert(
          r.stdout.includes(`integrity  signature verified (backup key '${keyId}')`),
          r.stdout,
        );
      });

      await t.step(
        "verify and restore refuse the forged archive; the target is untouched",
        async () => {
          const v = await sluice(["backup", "verify", forged], withKey);
          equal(v.code, 1);
          assert(
            v.stderr.startsWith(`error: BACKUP_SIGNATURE_INVALID: Backup '${forged}'`),
            v.stderr,
          );
          const r = await sluice(["restore", "--in", forged], {
            ...testDatabaseEnv(target),
            ...withKey,
          });
          equal(r.code, 1);
          assert(r.stderr.includes("error: BACKUP_SIGNATURE_INVALID: "), r.stderr);
          equal(await intruders(target.sql), 0);
        },
      );

      await t.step("the wrong key is refused with its own code and both key ids", async () => {
        const r = await sluice(["backup", "verify", signed], { SLUICE_BACKUP_KEY: OTHER_KEY });
        equal(r.code, 1);
        assert(r.stderr.startsWith("error: BACKUP_KEY_MISMATCH: "), r.stderr);
        assert(r.stderr.includes(`'${keyId}'`) && r.stderr.includes(backupKeyId(OTHER_KEY)));
      });

      await t.step(
        "without a key, verify says the signature went unchecked and warns",
        async () => {
          const r = await sluice(["backup", "verify", signed]);
          equal(r.code, 0, r.stderr);
          assert(
            r.stderr.startsWith(
              "warning: no SLUICE_BACKUP_KEY: the archive's integrity is unkeyed",
            ),
          );
          assert(
            r.stdout.includes(`signed with backup key '${keyId}', not checked (no key)`),
            r.stdout,
          );
        },
      );

      await t.step(
        "without a key, restore warns and goes on (so the forgery gets in)",
        async () => {
          const r = await sluice(["restore", "--in", forged], testDatabaseEnv(target));
          equal(r.code, 0, r.stderr);
          assert(
            r.stderr.includes("warning: no SLUICE_BACKUP_KEY: the archive's integrity is unkeyed"),
          );
          assert(r.stderr.includes("checksums catch damage, not a deliberate edit"), r.stderr);
          equal(await intruders(target.sql), 1);
        },
      );

      await t.step(
        "config check shows the key id, never the key; a short key is a problem",
        async () => {
          // Not its exit code: the test runner's own SLUICE_TEST_* variables are problems to it.
          const r = await sluice(["config", "check"], withKey);
          assert(
            /SLUICE_BACKUP_KEY\s+<redacted, key id [0-9a-f]{8}>\s+file/.test(r.stdout),
            r.stdout,
          );
          assert(r.stdout.includes(keyId) && !r.stdout.includes(KEY), r.stdout);
          const short = await sluice(["config", "check"], { SLUICE_BACKUP_KEY: "too-short" });
          equal(short.code, 2);
          assert(
            short.stdout.includes("problem: SLUICE_BACKUP_KEY: the secret must be at least 32"),
          );
          assert(!short.stdout.includes("too-short"), short.stdout);
        },
      );
    });
  });
});
