/**
 * The migration runner: forward-only, embedded SQL, one transaction, serialized by an advisory
 * lock so any number of processes may run it at start-up. Applied migrations are recorded
 * with the sha-256 of their text; a changed file is refused rather than silently skipped.
 *
 * A migration whose first line is `-- sluice:no-transaction` runs outside any transaction, one
 * statement at a time, so it can build an index on a big live table with CREATE INDEX
 * CONCURRENTLY (which PostgreSQL refuses inside a transaction block, and a multi-statement
 * query is one). Such a file:
 * - ends every statement with `;` at the end of a line and holds no function bodies (the runner
 *   splits it there);
 * - makes every statement safe to run twice (IF NOT EXISTS, DROP … IF EXISTS first): a crash
 *   part-way leaves it half applied and unrecorded, and the next run starts it again. A failed
 *   CONCURRENTLY build leaves an invalid index behind, so drop the index before building it.
 * `migrate()` holds the session-level form of the lock for its whole run and applies such a
 * migration between transactional batches. Inside a caller's transaction (`applyMigrations`, which restore uses on a schema it
 * has just created and nobody else sees) it runs in that transaction with CONCURRENTLY
 * removed: an online build protects concurrent writers, and there are none.
 */
import { createHash } from "node:crypto";
import { SluiceError } from "../errors.ts";
import type { Db, Sql } from "./connect.ts";
import { type Migration, MIGRATIONS } from "./migrations.ts";

// Fixed advisory lock key ("slui" in ASCII), per database. Held by a session (migrate()) or a
// transaction (restore); either way a runner that dies mid-way releases it with its connection.
export const MIGRATION_LOCK_KEY = 0x736c7569;
const LOCK_KEY = MIGRATION_LOCK_KEY;

/** `unknown`: recorded in the database but not in this build (a newer Sluice migrated it). */
export type MigrationState = "applied" | "pending" | "checksum_mismatch" | "unknown";

/** The marker line that makes a migration run outside a transaction (see the module comment). */
export const NO_TRANSACTION_MARKER = "-- sluice:no-transaction";

export function isNonTransactional(m: Migration): boolean {
  return m.sql.trimStart().startsWith(NO_TRANSACTION_MARKER);
}

/** A non-transactional migration's statements, split at `;` ending a line. */
export function statementsOf(m: Migration): string[] {
  return m.sql.split(/;[ \t]*$/m).map((s) => s.trim()).filter((s) =>
    s.split("\n").some((line) => line.trim() !== "" && !line.trim().startsWith("--"))
  );
}

export interface MigrationStatus {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date | null;
  state: MigrationState;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

export function checksumOf(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** `0001_create_core`: how people and error messages name a migration. */
export function migrationLabel(m: { version: number; name: string }): string {
  return `${String(m.version).padStart(4, "0")}_${m.name}`;
}

/**
 * Applies every pending migration: consecutive transactional ones in one transaction, a
 * non-transactional one statement by statement, all on one reserved connection that holds the
 * session-level migration lock throughout. A second runner waits for the lock, then finds
 * nothing to do. Throws `MIGRATION_CHECKSUM_MISMATCH` (applying nothing) when a recorded
 * migration's text changed.
 */
export async function migrate(
  sql: Sql,
  migrations: Migration[] = MIGRATIONS,
  log: (line: string) => void = () => {},
): Promise<{ applied: { version: number; name: string }[] }> {
  const conn = await sql.reserve();
  try {
    // The api pool bounds its statements (SLUICE_DB_STATEMENT_TIMEOUT) and `sluice api` may
    // migrate on it at start: an index build on a big table takes what it takes. RESET below
    // hands the connection back with the pool's own setting.
    await conn`SET statement_timeout = 0`;
    await waitForMigrationLock(conn);
    try {
      const applied: { version: number; name: string }[] = [];
      for (;;) {
        const batch = await inTransaction(
          conn,
          () => applyMigrations(conn, migrations, log, { stopAtNonTransactional: true }),
        );
        applied.push(...batch.applied);
        const m = batch.stoppedAt;
        if (!m) return { applied };
        const t0 = performance.now();
        for (const statement of statementsOf(m)) await conn.unsafe(statement);
        await conn`
          INSERT INTO sluice.schema_migrations (version, name, checksum)
          VALUES (${m.version}, ${m.name}, ${checksumOf(m.sql)})`;
        applied.push({ version: m.version, name: m.name });
        log(`applied ${migrationLabel(m)} (${Math.round(performance.now() - t0)} ms)`);
      }
    } finally {
      // On a broken connection the server has released the lock already: keep the real error.
      await conn`SELECT pg_advisory_unlock(${LOCK_KEY})`.catch(() => {});
    }
  } finally {
    // On a broken connection there is no session left to reset: keep the real error.
    await conn`RESET statement_timeout`.catch(() => {});
    conn.release();
  }
}

/** BEGIN … COMMIT on a reserved connection (postgres.js offers `begin` on pools only). */
async function inTransaction<T>(conn: Sql, fn: () => Promise<T>): Promise<T> {
  await conn.unsafe("BEGIN");
  try {
    const result = await fn();
    await conn.unsafe("COMMIT");
    return result;
  } catch (e) {
    await conn.unsafe("ROLLBACK").catch(() => {});
    throw e;
  }
}

/** How long a runner waits between two tries of a held migration lock. */
const LOCK_POLL_MS = 100;

/**
 * Takes the session-level migration lock by trying outside any transaction, not by a blocking
 * pg_advisory_lock: a statement waiting for a lock (and a transaction that ran a SELECT, whose
 * finished portal keeps its snapshot until the next one) holds a snapshot, and CREATE INDEX
 * CONCURRENTLY, run by the runner holding the lock, waits for every older snapshot in the
 * database, so the waiter and the index build would wait for each other forever. Between tries
 * this session holds no snapshot. (Flyway polls its PostgreSQL advisory lock for the same reason.)
 */
async function waitForMigrationLock(conn: Sql): Promise<void> {
  for (;;) {
    const [row] = await conn<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`;
    if (row?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

/**
 * `migrate()`'s body for a caller that already holds a transaction (restore migrates, loads and
 * migrates again in one). Takes the same advisory lock; it is re-entrant within a session.
 * A non-transactional migration runs inside that transaction without CONCURRENTLY, unless
 * `stopAtNonTransactional` (migrate()'s own batches), which returns it as `stoppedAt` unapplied.
 */
export async function applyMigrations(
  tx: Db,
  migrations: Migration[] = MIGRATIONS,
  log: (line: string) => void = () => {},
  { stopAtNonTransactional = false }: { stopAtNonTransactional?: boolean } = {},
): Promise<{ applied: { version: number; name: string }[]; stoppedAt?: Migration }> {
  // Re-entrant: migrate() holds the session-level form of this lock already.
  await tx`SELECT pg_advisory_xact_lock(${LOCK_KEY})`;
  // After the lock, so concurrent first runs do not race on CREATE … IF NOT EXISTS.
  await tx.unsafe(`
    CREATE SCHEMA IF NOT EXISTS sluice;
    CREATE TABLE IF NOT EXISTS sluice.schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    );
  `);
  const rows = await tx<AppliedRow[]>`
    SELECT version, name, checksum, applied_at FROM sluice.schema_migrations ORDER BY version
  `;
  const done = new Map(rows.map((r) => [r.version, r]));
  for (const m of migrations) {
    const row = done.get(m.version);
    if (row && row.checksum !== checksumOf(m.sql)) throw mismatch(m, row.checksum);
  }
  const applied: { version: number; name: string }[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const outside = isNonTransactional(m);
    if (outside && stopAtNonTransactional) return { applied, stoppedAt: m };
    const t0 = performance.now();
    if (outside) {
      for (const s of statementsOf(m)) await tx.unsafe(s.replace(/\bCONCURRENTLY\b/gi, ""));
    } else {
      await tx.unsafe(m.sql);
    }
    await tx`
      INSERT INTO sluice.schema_migrations (version, name, checksum)
      VALUES (${m.version}, ${m.name}, ${checksumOf(m.sql)})
    `;
    applied.push({ version: m.version, name: m.name });
    log(`applied ${migrationLabel(m)} (${Math.round(performance.now() - t0)} ms)`);
  }
  return { applied };
}

/**
 * One row per embedded migration, plus any recorded migration this build does not know
 * (the database was migrated by a newer Sluice).
 */
export async function migrationStatus(
  sql: Db,
  migrations: Migration[] = MIGRATIONS,
): Promise<MigrationStatus[]> {
  const [{ exists }] = await sql<[{ exists: boolean }]>`
    SELECT to_regclass('sluice.schema_migrations') IS NOT NULL AS exists
  `;
  const rows = exists
    ? await sql<AppliedRow[]>`
      SELECT version, name, checksum, applied_at FROM sluice.schema_migrations ORDER BY version
    `
    : [];
  const done = new Map(rows.map((r) => [r.version, r]));
  const out: MigrationStatus[] = migrations.map((m) => {
    const checksum = checksumOf(m.sql);
    const row = done.get(m.version);
    return {
      version: m.version,
      name: m.name,
      checksum,
      appliedAt: row?.applied_at ?? null,
      state: !row ? "pending" : row.checksum === checksum ? "applied" : "checksum_mismatch",
    };
  });
  const known = new Set(migrations.map((m) => m.version));
  for (const r of rows) {
    if (known.has(r.version)) continue;
    out.push({
      version: r.version,
      name: r.name,
      checksum: r.checksum,
      appliedAt: r.applied_at,
      state: "unknown",
    });
  }
  return out.sort((a, b) => a.version - b.version);
}

/** For start-up without SLUICE_MIGRATE_ON_STARTUP: refuse to run against an old schema. */
export async function assertNoPendingMigrations(
  sql: Sql,
  migrations: Migration[] = MIGRATIONS,
): Promise<void> {
  const status = await migrationStatus(sql, migrations);
  const bad = status.find((s) => s.state === "checksum_mismatch");
  if (bad) {
    const m = migrations.find((x) => x.version === bad.version)!;
    const [{ checksum }] = await sql<[{ checksum: string }]>`
      SELECT checksum FROM sluice.schema_migrations WHERE version = ${bad.version}
    `;
    throw mismatch(m, checksum);
  }
  const pending = status.filter((s) => s.state === "pending");
  if (pending.length > 0) {
    const n = pending.length;
    throw new SluiceError(
      "MIGRATIONS_PENDING",
      `${n} ${n === 1 ? "migration is" : "migrations are"} pending ` +
        `(${pending.map(migrationLabel).join(", ")}): run \`sluice migrate\` or set ` +
        "SLUICE_MIGRATE_ON_STARTUP=true",
      { pending: pending.map(migrationLabel) },
    );
  }
}

function mismatch(m: Migration, recorded: string): SluiceError {
  const file = `migrations/${migrationLabel(m)}.sql`;
  return new SluiceError(
    "MIGRATION_CHECKSUM_MISMATCH",
    `'${file}' changed after it was applied (recorded checksum '${recorded.slice(0, 12)}…', ` +
      `this build '${checksumOf(m.sql).slice(0, 12)}…'): migrations are forward-only, restore ` +
      "the original file and put the change in a new migration",
    { file, recorded, current: checksumOf(m.sql) },
  );
}
