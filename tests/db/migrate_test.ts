import { deepStrictEqual, ok as assert, rejects, strictEqual } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import {
  assertNoPendingMigrations,
  checksumOf,
  migrate,
  migrationStatus,
} from "../../src/db/migrate.ts";
import { type Migration, MIGRATIONS } from "../../src/db/migrations.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";

const REPO = new URL("../../", import.meta.url).pathname;

// A second migration that holds the lock long enough for the other runner to queue behind it.
const WITH_SLOW: Migration[] = [
  ...MIGRATIONS,
  {
    version: MIGRATIONS.at(-1)!.version + 1,
    name: "slow_marker",
    sql: "SELECT pg_sleep(0.3); CREATE TABLE sluice.slow_marker (x int);",
  },
];

Deno.test("migrate() applies each migration once under concurrent runners", async () => {
  await withTestDatabase(async (db) => {
    // Two pools, as two processes starting at once would have.
    const a = await openDatabase({ databaseUrl: db.url, dataDir: "", max: 1 });
    const b = await openDatabase({ databaseUrl: db.url, dataDir: "", max: 1 });
    try {
      const [ra, rb] = await Promise.all([migrate(a, WITH_SLOW), migrate(b, WITH_SLOW)]);
      const counts = [ra.applied.length, rb.applied.length].sort();
      deepStrictEqual(counts, [0, WITH_SLOW.length]);
      const rows = await db.sql`SELECT version, checksum FROM sluice.schema_migrations ORDER BY 1`;
      deepStrictEqual(
        rows.map((r) => [r.version, r.checksum]),
        WITH_SLOW.map((m) => [m.version, checksumOf(m.sql)]),
      );
      const again = await migrate(a, WITH_SLOW);
      strictEqual(again.applied.length, 0);
    } finally {
      await a.end();
      await b.end();
    }
  }, { empty: true });
});

Deno.test("migrate() refuses a migration whose text changed after it was applied", async () => {
  await withTestDatabase(async (db) => {
    const edited = MIGRATIONS.map((m, i) => i === 0 ? { ...m, sql: m.sql + "\n-- edited\n" } : m);
    await rejects(migrate(db.sql, [...edited, WITH_SLOW.at(-1)!]), (e) => {
      assert(isSluiceError(e, "MIGRATION_CHECKSUM_MISMATCH"), String(e));
      assert(e.message.includes("'migrations/0001_create_core.sql' changed"), e.message);
      return true;
    });
    // Nothing was applied: the refusal comes before any migration runs.
    const [{ n }] = await db.sql<[{ n: number }]>`
      SELECT count(*)::int AS n FROM sluice.schema_migrations
    `;
    strictEqual(n, MIGRATIONS.length);
    const status = await migrationStatus(db.sql, edited);
    strictEqual(status[0]!.state, "checksum_mismatch");
    await rejects(
      assertNoPendingMigrations(db.sql, edited),
      (e) => isSluiceError(e, "MIGRATION_CHECKSUM_MISMATCH"),
    );
  });
});

Deno.test("migrationStatus() reports pending and applied migrations", async (t) => {
  await t.step("a fresh database has everything pending", async () => {
    await withTestDatabase(async (db) => {
      const status = await migrationStatus(db.sql);
      deepStrictEqual(status.map((s) => s.state), MIGRATIONS.map(() => "pending"));
      strictEqual(status[0]!.appliedAt, null);
      await rejects(assertNoPendingMigrations(db.sql), (e) => {
        assert(isSluiceError(e, "MIGRATIONS_PENDING"));
        // Independent of how many migrations exist, so adding one does not break this test.
        const n = MIGRATIONS.length;
        const labels = MIGRATIONS.map((m) => `${String(m.version).padStart(4, "0")}_${m.name}`);
        strictEqual(
          e.message,
          `${n} ${n === 1 ? "migration is" : "migrations are"} pending (${
            labels.join(", ")
          }): run \`sluice migrate\` or set SLUICE_MIGRATE_ON_STARTUP=true`,
        );
        return true;
      });
    }, { empty: true });
  });

  await t.step("the test template is fully migrated", async () => {
    await withTestDatabase(async (db) => {
      const status = await migrationStatus(db.sql);
      assert(status.every((s) => s.state === "applied" && s.appliedAt instanceof Date));
      await assertNoPendingMigrations(db.sql);
      const next = MIGRATIONS.at(-1)!.version + 1;
      const more: Migration[] = [
        ...MIGRATIONS,
        { version: next, name: "x", sql: "SELECT 1" },
        { version: next + 1, name: "y", sql: "SELECT 1" },
      ];
      const label = (v: number, name: string) => `${String(v).padStart(4, "0")}_${name}`;
      await rejects(assertNoPendingMigrations(db.sql, more), (e) => {
        assert(isSluiceError(e, "MIGRATIONS_PENDING"));
        assert(
          e.message.startsWith(
            `2 migrations are pending (${label(next, "x")}, ${label(next + 1, "y")}): run`,
          ),
          e.message,
        );
        return true;
      });
    });
  });
});

Deno.test("sluice migrate up and status work from a child process", async () => {
  await withTestDatabase(async (db) => {
    const cli = async (...args: string[]) => {
      const code = `import { migrateCommand } from "./src/cli/migrate.ts";
        Deno.exit(await migrateCommand.run(${JSON.stringify(args)}));`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", code],
        cwd: REPO,
        env: { ...testDatabaseEnv(db), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };

    const before = await cli("status");
    strictEqual(before.code, 0, before.stderr);
    assert(/^VERSION\s+NAME\s+STATE\s+APPLIED AT$/m.test(before.stdout), before.stdout);
    assert(/^0001\s+create_core\s+pending\s+-$/m.test(before.stdout), before.stdout);

    const up = await cli("up");
    strictEqual(up.code, 0, up.stderr);
    assert(up.stdout.includes("applied 0001_create_core"), up.stdout);

    const again = await cli();
    assert(again.stdout.includes("nothing to apply"), again.stdout);

    const json = await cli("status", "--json");
    const rows = JSON.parse(json.stdout);
    strictEqual(rows[0].state, "applied");
    strictEqual(rows[0].name, "create_core");
    assert(!Number.isNaN(Date.parse(rows[0].appliedAt)));

    const bad = await cli("sideways");
    strictEqual(bad.code, 2);
    assert(bad.stderr.includes("unknown subcommand 'sideways'"), bad.stderr);
  }, { empty: true });
});
