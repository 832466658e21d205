/**
 * `backupDatabase`: a consistent logical backup of schema `sluice` while the system runs.
 * One `REPEATABLE READ READ ONLY` transaction gives every table's COPY the same snapshot;
 * COPY text streams through the archive writer (gzip) into the sink with flat memory.
 */
import type { Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { BUILD, VERSION } from "../version.ts";
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  type ArchiveHeader,
  type ArchiveTrailer,
  ArchiveWriter,
} from "./archive.ts";
import {
  fixCopySettings,
  listSequences,
  listTables,
  qualified,
  schemaExists,
  schemaVersion,
} from "./_catalog.ts";
import type { BackupSigner } from "./key.ts";

export interface TransferProgress {
  tablesDone: number;
  tablesTotal: number;
  table: string | null;
  rows: number;
  /** Uncompressed COPY bytes. */
  bytes: number;
  /** Compressed archive bytes (backup) or archive bytes read (restore), when known. */
  archiveBytes: number;
}

export interface BackupResult {
  header: ArchiveHeader;
  trailer: ArchiveTrailer;
  compressedBytes: number;
}

/**
 * Writes the archive of `sql`'s database into `sink` and closes it, signed with `key` when one
 * is given. On failure the sink is aborted (never left looking complete) and the error is
 * rethrown.
 */
export async function backupDatabase(
  sql: Sql,
  sink: WritableStream<Uint8Array>,
  { onProgress, key = null }: {
    onProgress?: (p: TransferProgress) => void;
    key?: BackupSigner | null;
  } = {},
): Promise<BackupResult> {
  const out = new ArchiveWriter(sink, { key });
  try {
    return await sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
      await fixCopySettings(tx);
      if (!(await schemaExists(tx))) {
        throw new SluiceError(
          "NOT_FOUND",
          "Nothing to back up: the database has no 'sluice' schema (run `sluice migrate` first)",
        );
      }
      const [info] = await tx<{ db: string; server: string; now: Date }[]>`
        SELECT current_database() AS db, current_setting('server_version') AS server,
          now() AS now`;
      const tables = await listTables(tx);
      const header = await out.header({
        format: ARCHIVE_FORMAT,
        formatVersion: ARCHIVE_FORMAT_VERSION,
        sluiceVersion: VERSION,
        sluiceCommit: BUILD.commit,
        schemaVersion: await schemaVersion(tx),
        createdAt: info!.now.toISOString(),
        database: { name: info!.db, serverVersion: info!.server },
        tables,
      });
      const p: TransferProgress = {
        tablesDone: 0,
        tablesTotal: tables.length,
        table: null,
        rows: 0,
        bytes: 0,
        archiveBytes: 0,
      };
      for (const table of tables) {
        p.table = table.name;
        await out.beginTable(table.name);
        const copy = await tx`
          COPY ${tx(qualified(table.name))} (${tx(table.columns)}) TO STDOUT`.readable();
        let sinceReport = 0;
        for await (const chunk of copy as AsyncIterable<Uint8Array>) {
          const wrote = out.data(chunk);
          if (wrote) await wrote;
          p.bytes += chunk.byteLength;
          if (++sinceReport >= 1_000) {
            sinceReport = 0;
            p.archiveBytes = out.compressedBytes;
            onProgress?.({ ...p, rows: p.rows + out.tableRows });
          }
        }
        resumeAfterCopy(copy);
        const s = await out.endTable();
        p.rows += s.rows;
        p.tablesDone++;
        p.archiveBytes = out.compressedBytes;
        onProgress?.({ ...p });
      }
      // Read last: sequences are not transactional, so this is at least every value the
      // snapshot's rows hold (a floor for restore).
      const sequences = await listSequences(tx);
      const [end] = await tx<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
      const trailer = await out.finish({ sequences, finishedAt: end!.now.toISOString() });
      p.archiveBytes = out.compressedBytes;
      onProgress?.({ ...p, table: null });
      return { header, trailer, compressedBytes: out.compressedBytes };
    });
  } catch (e) {
    await out.abort(e);
    throw e;
  }
}

/**
 * postgres.js 3.4 pauses the socket when a COPY stream's buffer is full and resumes it only from
 * the stream's `read()`. When the pause falls on the COPY's last network chunk, the stream ends
 * without another `read()` and the paused socket never delivers the next query's answer: the
 * backup hung at the next table (seen under load about one run in three). Calling the stream's
 * read hook once more resumes the socket; resuming a flowing socket is harmless.
 */
function resumeAfterCopy(stream: unknown): void {
  (stream as { _read?: (n: number) => void })._read?.(0);
}
