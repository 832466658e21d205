import { equal, ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";
import { sluice } from "./_cli.ts";

const dir = await Deno.makeTempDir({ prefix: "sluice-backup-cli-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* best effort */ }
});

Deno.test("sluice backup, backup verify and restore work end to end", async (t) => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      const file = `${dir}/cli.backup`;
      await enqueueJobs(source.sql, [{ kind: "cli.a" }, { kind: "cli.b" }, { kind: "cli.c" }]);
      await enqueueJobs(target.sql, [{ kind: "target.only" }]);

      await t.step("backup writes the archive quietly when not on a terminal", async () => {
        const r = await sluice(["backup", "--out", file], testDatabaseEnv(source));
        equal(r.code, 0, r.stderr);
        // The one line it prints without a key (tests/backup/signature_test.ts has the key).
        equal(r.stdout, "");
        assert(
          /^warning: no SLUICE_BACKUP_KEY: the archive is unsigned [^\n]*\n$/.test(r.stderr),
          r.stderr,
        );
        assert((await Deno.stat(file)).size > 0);
        await Deno.stat(`${file}.partial`).then(
          () => assert(false, "the partial file is gone"),
          () => {},
        );
      });

      await t.step("backup writes 0600 and never follows a planted FILE.partial link", async () => {
        const victim = `${dir}/victim.txt`;
        await Deno.writeTextFile(victim, "precious");
        const planted = `${dir}/planted.backup`;
        await Deno.symlink(victim, `${planted}.partial`);
        const r = await sluice(["backup", "--out", planted], testDatabaseEnv(source));
        equal(r.code, 0, r.stderr);
        equal(await Deno.readTextFile(victim), "precious", "the link's target is untouched");
        equal((await Deno.stat(planted)).mode! & 0o777, 0o600);
        assert((await Deno.lstat(planted)).isFile);
      });

      await t.step("backup verify reads it without a database", async () => {
        const r = await sluice(["backup", "verify", file], { DATABASE_URL: "" });
        equal(r.code, 0, r.stderr);
        assert(r.stdout.startsWith(`ok: '${file}' is a complete Sluice backup`), r.stdout);
        assert(/^jobs\s+3\s/m.test(r.stdout), r.stdout);
      });

      await t.step("backup verify rejects a damaged file with a clear message", async () => {
        const bytes = await Deno.readFile(file);
        await Deno.writeFile(`${dir}/cut.backup`, bytes.slice(0, bytes.length - 10));
        const r = await sluice(["backup", "verify", `${dir}/cut.backup`]);
        equal(r.code, 1);
        assert(
          r.stderr.includes(`\nerror: ARCHIVE_INVALID: Backup '${dir}/cut.backup' is not usable: `),
          r.stderr,
        );
      });

      await t.step("restore refuses a database with data", async () => {
        const r = await sluice(["restore", "--in", file], testDatabaseEnv(target));
        equal(r.code, 1);
        assert(r.stderr.includes("RESTORE_TARGET_NOT_EMPTY"), r.stderr);
        assert(r.stderr.includes("jobs (1 rows)"), r.stderr);
      });

      await t.step("restore --force-replace says what it deletes, then restores", async () => {
        const r = await sluice(
          ["restore", "--in", file, "--force-replace"],
          testDatabaseEnv(target),
        );
        equal(r.code, 0, r.stderr);
        assert(r.stderr.includes("--force-replace: deleting schema 'sluice'"), r.stderr);
        assert(/^jobs\s+1$/m.test(r.stderr), r.stderr);
        assert(r.stdout.startsWith(`restored '${file}'`), r.stdout);
        const kinds = await target.sql<{ kind: string }[]>`
          SELECT kind FROM sluice.jobs ORDER BY kind`;
        equal(kinds.map((k) => k.kind).join(","), "cli.a,cli.b,cli.c");
      });

      await t.step("usage errors exit 2", async () => {
        equal((await sluice(["backup"])).code, 2);
        equal((await sluice(["restore"])).code, 2);
      });
    });
  });
});
