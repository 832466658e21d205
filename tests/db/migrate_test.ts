import { deepStrictEqual, ok as assert, rejects, strictEqual } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import {
  applyMigrations,
  assertNoPendingMigrations,
  checksumOf,
  migrate,
  migrationStatus,
  statementsOf,
} from "../../src/db/migrate.ts";
import { type Migration, MIGRATIONS } from "../../src/db/migrations.ts";
import { openDatabase, type Sql } from "../../src/db/connect.ts";
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

Deno.test("migrate() is not bound by the api pool's statement timeout and hands it back", async () => {
  await withTestDatabase(async (db) => {
    // The api pool's shape (SLUICE_DB_STATEMENT_TIMEOUT), one connection so the check after
    // migrate() runs on the very connection the migration used.
    const api = await openDatabase({
      databaseUrl: db.url,
      dataDir: "",
      max: 1,
      statementTimeoutMs: 100,
    });
    try {
      // pg_sleep(0.3) in WITH_SLOW runs three times longer than the pool allows.
      const { applied } = await migrate(api, WITH_SLOW);
      strictEqual(applied.length, WITH_SLOW.length);
      await rejects(api`SELECT pg_sleep(0.3)`, (e) => {
        strictEqual((e as { code?: string }).code, "57014", String(e));
        return true;
      });
      const [{ setting }] = await api<
        [{ setting: string }]
      >`SELECT current_setting('statement_timeout') AS setting`;
      strictEqual(setting, "100ms");
    } finally {
      await api.end();
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

    // A status a deploy check must not pass: an edited migration, then one from a newer build.
    await db.sql`UPDATE sluice.schema_migrations SET checksum = 'edited' WHERE version = 1`;
    const edited = await cli("status");
    strictEqual(edited.code, 1, edited.stdout);
    assert(/^0001\s+create_core\s+checksum_mismatch\s/m.test(edited.stdout), edited.stdout);
    assert(
      edited.stderr.includes("error: MIGRATION_CHECKSUM_MISMATCH: 0001_create_core changed"),
      edited.stderr,
    );
    strictEqual((await cli("status", "--json")).code, 1);
    await db.sql`UPDATE sluice.schema_migrations SET checksum = ${
      checksumOf(MIGRATIONS[0]!.sql)
    } WHERE version = 1`;
    await db.sql`
      INSERT INTO sluice.schema_migrations (version, name, checksum) VALUES (9999, 'from_newer', 'x')
    `;
    const newer = await cli("status");
    strictEqual(newer.code, 1, newer.stdout);
    assert(/^9999\s+from_newer\s+unknown\s/m.test(newer.stdout), newer.stdout);
    assert(newer.stderr.includes("9999_from_newer applied by a newer Sluice"), newer.stderr);
  }, { empty: true });
});

// A migration that only works outside a transaction block.
const ONLINE: Migration = {
  version: MIGRATIONS.length + 1,
  name: "online_index",
  sql: `-- sluice:no-transaction
-- A comment; the statement below ends the line with ';'.
CREATE TABLE IF NOT EXISTS sluice.online_marker (x int);
DROP INDEX CONCURRENTLY IF EXISTS sluice.online_marker_idx;
CREATE INDEX CONCURRENTLY online_marker_idx ON sluice.online_marker (x);
`,
};

const indexValid = async (sql: Sql, name: string) =>
  (await sql<{ valid: boolean }[]>`
    SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = ${name}`)[0]?.valid ?? null;

Deno.test("migrate() runs a '-- sluice:no-transaction' migration outside a transaction", async (t) => {
  await t.step("without the marker CREATE INDEX CONCURRENTLY is refused", async () => {
    await withTestDatabase(async (db) => {
      const marked = { ...ONLINE, sql: ONLINE.sql.replace("-- sluice:no-transaction\n", "") };
      await rejects(
        migrate(db.sql, [...MIGRATIONS, marked]),
        (e) => String(e).includes("cannot run inside a transaction block"),
      );
    });
  });

  await t.step("with it, concurrent runners apply it once and the index is valid", async () => {
    await withTestDatabase(async (db) => {
      const a = await openDatabase({ databaseUrl: db.url, dataDir: "", max: 2 });
      const b = await openDatabase({ databaseUrl: db.url, dataDir: "", max: 2 });
      try {
        const list = [...MIGRATIONS, ONLINE, { ...WITH_SLOW.at(-1)!, version: ONLINE.version + 1 }];
        const [ra, rb] = await Promise.all([migrate(a, list), migrate(b, list)]);
        deepStrictEqual([ra.applied.length, rb.applied.length].sort(), [0, 2]);
        strictEqual(await indexValid(db.sql, "online_marker_idx"), true);
        const rows = await db.sql`
          SELECT version FROM sluice.schema_migrations WHERE version > ${MIGRATIONS.length}
          ORDER BY 1`;
        deepStrictEqual(rows.map((r) => r.version), [ONLINE.version, ONLINE.version + 1]);
        strictEqual((await migrate(a, list)).applied.length, 0);
      } finally {
        await a.end();
        await b.end();
      }
    });
  });

  await t.step("inside a caller's transaction (restore) it runs without CONCURRENTLY", async () => {
    await withTestDatabase(async (db) => {
      const { applied } = await db.sql.begin((tx) => applyMigrations(tx, [...MIGRATIONS, ONLINE]));
      deepStrictEqual(applied.map((m) => m.name), ["online_index"]);
      strictEqual(await indexValid(db.sql, "online_marker_idx"), true);
    });
  });

  await t.step("0008 and 0015 left one valid owner-scoped idempotency index", async () => {
    await withTestDatabase(async (db) => {
      // 0015 replaced 0008's index with one that also covers `blocked` jobs.
      strictEqual(await indexValid(db.sql, "jobs_idempotency_unfinished_idx"), true);
      strictEqual(await indexValid(db.sql, "jobs_idempotency_owner_idx"), null);
      strictEqual(await indexValid(db.sql, "jobs_idempotency_idx"), null);
      assert(statementsOf(MIGRATIONS[7]!).length >= 4);
    });
  });
});

Deno.test("MIGRATIONS embeds every file of migrations/, numbered 1..n without a gap", async () => {
  const files: string[] = [];
  for await (const e of Deno.readDir(`${REPO}migrations`)) {
    if (e.name.endsWith(".sql")) files.push(e.name);
  }
  files.sort();
  deepStrictEqual(
    MIGRATIONS.map((m) => `${String(m.version).padStart(4, "0")}_${m.name}.sql`),
    files,
  );
  deepStrictEqual(MIGRATIONS.map((m) => m.version), files.map((_, i) => i + 1));
  for (const m of MIGRATIONS) {
    strictEqual(
      m.sql,
      await Deno.readTextFile(
        `${REPO}migrations/${String(m.version).padStart(4, "0")}_${m.name}.sql`,
      ),
    );
  }
});
