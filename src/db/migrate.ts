/**
 * The migration runner: forward-only, embedded SQL, one transaction, serialized by an advisory
 * lock so any number of processes may run it at start-up. Applied migrations are recorded
 * with the sha-256 of their text; a changed file is refused rather than silently skipped.
 */
import { createHash } from "node:crypto";
import { SluiceError } from "../errors.ts";
import type { Sql } from "./connect.ts";
import { type Migration, MIGRATIONS } from "./migrations.ts";

// Fixed advisory lock key ("slui" in ASCII), per database. Transaction-scoped, so a runner
// that dies mid-way releases it with its connection.
export const MIGRATION_LOCK_KEY = 0x736c7569;
const LOCK_KEY = MIGRATION_LOCK_KEY;

export type MigrationState = "applied" | "pending" | "checksum_mismatch";

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
 * Applies every pending migration in one transaction. A second runner blocks on the lock,
 * then finds nothing to do. Throws `MIGRATION_CHECKSUM_MISMATCH` (applying nothing) when a
 * recorded migration's text changed.
 */
export async function migrate(
  sql: Sql,
  migrations: Migration[] = MIGRATIONS,
  log: (line: string) => void = () => {},
): Promise<{ applied: { version: number; name: string }[] }> {
  return await sql.begin((tx) => applyMigrations(tx as unknown as Sql, migrations, log));
}

/**
 * `migrate()`'s body for a caller that already holds a transaction (restore migrates, loads and
 * migrates again in one). Takes the same advisory lock; it is re-entrant within a session.
 */
export async function applyMigrations(
  tx: Sql,
  migrations: Migration[] = MIGRATIONS,
  log: (line: string) => void = () => {},
): Promise<{ applied: { version: number; name: string }[] }> {
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
    const t0 = performance.now();
    await tx.unsafe(m.sql);
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
  sql: Sql,
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
      state: "applied",
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
