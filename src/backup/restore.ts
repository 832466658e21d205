/**
 * `restoreDatabase`: loads a backup archive into a database in ONE transaction:
 *
 *   1. refuse when the target holds Sluice data, unless `forceReplace` (told what goes first)
 *   2. drop schema `sluice` and migrate to the archive's schema version, so COPY finds exactly
 *      the columns it was written from (one path for an empty, a freshly migrated and a
 *      replaced database; a later migration's schema would not take an older archive's COPY)
 *   3. COPY every table FROM STDIN as the archive streams by; the reader verifies each
 *      table's rows and sha-256 and the archive's trailer, and row counts are checked in the
 *      database, all before COMMIT
 *   4. apply the migrations newer than the archive (checksums of the archive's recorded
 *      migrations are verified against this build's on the way)
 *   5. make the restored data safe to run: running jobs become available again (their leases
 *      belonged to processes of another life), sequences move past every restored value and,
 *      over an existing database, past every value it had handed out (read before the drop)
 *
 * Any failure rolls the whole transaction back: the database is as it was. Tokens and secrets
 * travel as they are stored (hashes); nothing here knows which tables hold them.
 */
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import type { Writable } from "node:stream";
import type { Db, Sql } from "../db/connect.ts";
import { applyMigrations, MIGRATION_LOCK_KEY, migrationLabel } from "../db/migrate.ts";
import { type Migration, MIGRATIONS } from "../db/migrations.ts";
import { SluiceError } from "../errors.ts";
import {
  type ArchiveEvent,
  type ArchiveHeader,
  type ArchiveTrailer,
  invalid,
  readArchive,
} from "./archive.ts";
import type { TransferProgress } from "./backup.ts";
import {
  fixCopySettings,
  listSequences,
  listTables,
  qualified,
  SCHEMA,
  schemaExists,
  schemaVersion,
  sequenceOwners,
  tableRowCount,
} from "./_catalog.ts";
import type { BackupSigner } from "./key.ts";

export interface TableCount {
  table: string;
  rows: number;
}

export interface RestoreOptions {
  /** Replace a database that holds Sluice data (after `onReplace` was told what goes). */
  forceReplace?: boolean;
  /** The build's migrations; tests pass their own list. */
  migrations?: Migration[];
  /** How messages name the archive (a file name). */
  source?: string;
  /**
   * The backup key: an archive not signed with it is refused before COMMIT (an unsigned one or
   * one made with another key already at its header). Null: checksums only.
   */
  key?: BackupSigner | null;
  onProgress?: (p: TransferProgress) => void;
  /** Called with the non-empty tables (and the schema version) before they are deleted. */
  onReplace?: (existing: { schemaVersion: number; tables: TableCount[] }) => void;
  log?: (line: string) => void;
}

export interface RestoreResult {
  header: ArchiveHeader;
  trailer: ArchiveTrailer;
  /** Migrations newer than the archive, applied after loading it. */
  migrated: { version: number; name: string }[];
  /** Running jobs in the archive, made available again. */
  releasedJobs: number;
  replaced: TableCount[];
}

/**
 * Rows a freshly migrated database already has: they do not make a database "non-empty".
 * Migration 0001 creates the `default` queue.
 */
const SEEDED: Record<string, (sql: Db) => Promise<number>> = {
  queues: async (sql) => {
    const [row] = await sql<{ n: string }[]>`
      SELECT count(*) AS n FROM sluice.queues WHERE name = 'default'`;
    return Number(row!.n);
  },
};

export async function restoreDatabase(
  sql: Sql,
  input: ReadableStream<Uint8Array>,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  const migrations = opts.migrations ?? MIGRATIONS;
  const source = opts.source ?? "archive";
  const log = opts.log ?? (() => {});
  let archiveBytes = 0;
  const counted = input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        archiveBytes += chunk.byteLength;
        ctl.enqueue(chunk);
      },
    }),
  );
  const events = readArchive(counted, source, { key: opts.key ?? null });
  try {
    return await sql.begin(async (tx) => {
      await fixCopySettings(tx);
      // Migrations and restores of one database wait for each other.
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;

      const first = await events.next();
      if (first.done || first.value.type !== "header") {
        throw invalid(source, "it has no header");
      }
      const header = first.value.header;
      const latest = migrations.at(-1)?.version ?? 0;
      if (header.schemaVersion > latest) {
        throw new SluiceError(
          "ARCHIVE_TOO_NEW",
          `'${source}' holds schema version ${header.schemaVersion}; this Sluice knows up to ` +
            `${latest}: restore it with Sluice '${header.sluiceVersion}' or newer`,
          { archiveSchemaVersion: header.schemaVersion, latest },
        );
      }

      const { replaced, sequences: before } = await clearTarget(tx, opts);
      const archived = migrations.filter((m) => m.version <= header.schemaVersion);
      await applyMigrations(tx, archived);
      await prepareTables(tx, header, source);

      const progress: TransferProgress = {
        tablesDone: 0,
        tablesTotal: header.tables.length,
        table: null,
        rows: 0,
        bytes: 0,
        archiveBytes: 0,
      };
      await setUserTriggers(tx, header, false);
      const trailer = await load(tx, events, progress, () => archiveBytes, opts.onProgress);
      await setUserTriggers(tx, header, true);

      for (const s of trailer.tables) {
        const rows = await tableRowCount(tx, s.name);
        if (rows !== s.rows) {
          throw invalid(source, `table '${s.name}' has ${rows} rows after loading, not ${s.rows}`);
        }
      }
      const { applied } = await applyMigrations(tx, migrations, log);
      for (const m of applied) log(`applied ${migrationLabel(m)} after the restore`);
      const releasedJobs = await releaseRunningJobs(tx);
      await advanceSequences(tx, trailer, before);
      return { header, trailer, migrated: applied, releasedJobs, replaced };
    });
  } finally {
    // Stops reading (and closes the file) when the transaction failed part-way.
    await events.return(undefined).catch(() => {});
  }
}

/**
 * Refuses a database with Sluice data unless forced; then drops the schema. DROP … CASCADE
 * also drops objects outside the schema that depend on it (a reporting view, say): they would
 * not survive a changed column anyway. Returns the sequences' values from before the drop: an
 * older backup restored over a newer database must not hand out again the job ids and fencing
 * epochs issued since the backup (issue #14.7).
 */
async function clearTarget(
  tx: Db,
  opts: RestoreOptions,
): Promise<{ replaced: TableCount[]; sequences: SequenceValue[] }> {
  if (!(await schemaExists(tx))) return { replaced: [], sequences: [] };
  const sequences = await listSequences(tx);
  const version = await schemaVersion(tx);
  const tables: TableCount[] = [];
  let data = 0;
  for (const t of await listTables(tx)) {
    const rows = await tableRowCount(tx, t.name);
    if (rows === 0) continue;
    tables.push({ table: t.name, rows });
    if (t.name === "schema_migrations") continue;
    data += rows - (await SEEDED[t.name]?.(tx) ?? 0);
  }
  if (data > 0) {
    const list = tables.map((t) => `${t.table} (${t.rows} rows)`).join(", ");
    if (!opts.forceReplace) {
      throw new SluiceError(
        "RESTORE_TARGET_NOT_EMPTY",
        `The target database already holds Sluice data: ${list}. Restore into an empty ` +
          "database, or pass --force-replace to delete this data first",
        { tables },
      );
    }
    opts.onReplace?.({ schemaVersion: version, tables });
  }
  await tx`DROP SCHEMA ${tx(SCHEMA)} CASCADE`;
  return { replaced: data > 0 ? tables : [], sequences };
}

type SequenceValue = { name: string; lastValue: string | null };

/** Every archived table must exist with every archived column; migration seed rows go. */
async function prepareTables(tx: Db, header: ArchiveHeader, source: string): Promise<void> {
  const target = new Map((await listTables(tx)).map((t) => [t.name, new Set(t.columns)]));
  for (const t of header.tables) {
    const columns = target.get(t.name);
    if (!columns) {
      throw invalid(
        source,
        `table '${t.name}' does not exist in schema version ${header.schemaVersion} of this ` +
          "build (the archive and this build disagree about the schema)",
      );
    }
    const missing = t.columns.filter((c) => !columns.has(c));
    if (missing.length > 0) {
      throw invalid(source, `table '${t.name}' has no column '${missing[0]}' in this build`);
    }
  }
  if (header.tables.length > 0) {
    await tx`TRUNCATE ${tx(header.tables.map((t) => qualified(t.name)))}`;
  }
}

/**
 * User triggers stay off while loading, as pg_restore's --disable-triggers does: what they
 * would derive is in the archive already, and the jobs insert trigger would otherwise gather
 * every restored row in a transition table to send one notification nobody listens to.
 * The schema was created by this transaction, so we own its tables.
 */
async function setUserTriggers(tx: Db, header: ArchiveHeader, on: boolean): Promise<void> {
  for (const t of header.tables) {
    await (on
      ? tx`ALTER TABLE ${tx(qualified(t.name))} ENABLE TRIGGER USER`
      : tx`ALTER TABLE ${tx(qualified(t.name))} DISABLE TRIGGER USER`);
  }
}

async function load(
  tx: Db,
  events: AsyncGenerator<ArchiveEvent>,
  p: TransferProgress,
  readBytes: () => number,
  onProgress?: (p: TransferProgress) => void,
): Promise<ArchiveTrailer> {
  let copy: Writable | null = null;
  let copyError: Error | null = null;
  let sinceReport = 0;
  try {
    for await (const e of events) {
      switch (e.type) {
        case "table": {
          p.table = e.table.name;
          copy = await tx`
            COPY ${tx(qualified(e.table.name))} (${tx(e.table.columns)}) FROM STDIN`
            .writable();
          // Kept, not thrown from an event: the next write or `finished()` reports it.
          copy.on("error", (err) => copyError ??= err);
          break;
        }
        case "data": {
          const ok = copy!.write(Buffer.from(e.chunk.buffer, e.chunk.byteOffset, e.chunk.length));
          p.bytes += e.chunk.byteLength;
          p.rows += e.rows;
          if (copyError) throw copyError;
          if (!ok) await once(copy!, "drain");
          if (++sinceReport >= 16) {
            sinceReport = 0;
            onProgress?.({ ...p, archiveBytes: readBytes() });
          }
          break;
        }
        case "tableEnd": {
          copy!.end();
          await finished(copy!);
          copy = null;
          p.tablesDone++;
          onProgress?.({ ...p, archiveBytes: readBytes() });
          break;
        }
        case "trailer":
          onProgress?.({ ...p, table: null, archiveBytes: readBytes() });
          return e.trailer;
        case "header":
          break;
      }
    }
  } finally {
    // A COPY left open by a damaged archive is ended with an error, which fails (and rolls
    // back) the transaction instead of waiting for data that will never come.
    if (copy && !copy.writableFinished) copy.destroy(new Error("restore aborted"));
  }
  throw new Error("unreachable: readArchive ends with a trailer or throws");
}

/**
 * A job running at backup time had a worker that is gone now: it becomes available again and
 * gets its attempt back (the attempt never ended, so it should not count against max_attempts);
 * one whose cancellation was requested is cancelled.
 */
async function releaseRunningJobs(tx: Db): Promise<number> {
  const [exists] = await tx<{ ok: boolean }[]>`
    SELECT to_regclass('sluice.jobs') IS NOT NULL AS ok`;
  if (!exists!.ok) return 0;
  const rows = await tx`
    UPDATE sluice.jobs SET
      state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'available' END,
      finished_at = CASE WHEN cancel_requested THEN now() END,
      attempt = greatest(attempt - 1, 0),
      started_at = CASE WHEN attempt <= 1 THEN NULL ELSE started_at END,
      lease_token = NULL,
      worker_id = NULL,
      leased_at = NULL,
      lease_expires_at = NULL
    WHERE state = 'running'`;
  return rows.count;
}

/**
 * Every sequence continues past its value at backup time, the largest value its column holds
 * and its value in the database the restore replaced (`before`), so no id and no fencing number
 * (`lease_token_seq`) is ever handed out twice. `lease_epoch_seq` (the high part of today's
 * fencing numbers) continues past its value at backup time, which the backup reads last, after
 * every epoch the archived numbers carry, and past the replaced database's. A sequence the
 * archive lacks (it predates the migration that made it) still continues past `before`.
 */
async function advanceSequences(
  tx: Db,
  trailer: ArchiveTrailer,
  before: readonly SequenceValue[],
): Promise<void> {
  const owners = await sequenceOwners(tx);
  const existing = new Set((await listSequences(tx)).map((s) => s.name));
  const values = new Map<string, bigint | null>();
  for (const s of [...trailer.sequences, ...before]) {
    if (!existing.has(s.name)) continue;
    const v = s.lastValue === null ? null : BigInt(s.lastValue);
    const prev = values.get(s.name) ?? null;
    values.set(s.name, prev === null || (v !== null && v > prev) ? v : prev);
  }
  for (const [name, last] of values) {
    const lastValue = last === null ? null : String(last);
    const owner = owners.get(name);
    const seq = tx`format('%I.%I', ${SCHEMA}::text, ${name}::text)::regclass`;
    const columnMax = owner
      ? tx`(SELECT max(${tx(owner.column)})::bigint FROM ${tx(qualified(owner.table))})`
      : name === "lease_token_seq"
      ? tx`(SELECT max(lease_token) FROM sluice.jobs)`
      : tx`NULL::bigint`;
    await tx`SELECT setval(${seq}, greatest(${lastValue}::bigint, ${columnMax}), true)
      WHERE greatest(${lastValue}::bigint, ${columnMax}) IS NOT NULL`;
  }
}
