import { backupDatabase, type BackupResult } from "../backup/backup.ts";
import { type ArchiveHeader, type ArchiveTrailer, verifyArchive } from "../backup/archive.ts";
import type { BackupSigner } from "../backup/key.ts";
import { requireConfig } from "../config/load.ts";
import { backupKeyOf, signatureNote } from "./_backup_key.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { withOperatorDb } from "./_operator.ts";
import { printJson, renderTable } from "./_output.ts";
import { formatBytes, progressLine } from "./_progress.ts";

const HELP = `Usage: sluice backup --out FILE|- [--quiet] [--json]
       sluice backup verify FILE [--json]

Writes a consistent logical backup of Sluice's schema while Sluice keeps running: every table
of schema 'sluice' is copied (COPY … TO STDOUT) inside one REPEATABLE READ, READ ONLY
transaction, so all tables come from the same moment. The archive is one gzip file holding a
manifest (format version, schema version, Sluice version, time, tables), the data, and per
table row counts and SHA-256 checksums (written after each table, when they are known). Memory
stays flat however large the database is. No pg_dump is needed.

With SLUICE_BACKUP_KEY (or SLUICE_BACKUP_KEY_FILE; 32+ characters) the archive is signed: an
HMAC-SHA256 covering every byte, with the key's id (first 8 hex digits of its SHA-256). Then
\`backup verify\` and \`restore\` refuse an unsigned archive (BACKUP_UNSIGNED), one made with
another key (BACKUP_KEY_MISMATCH) and one changed after it was written
(BACKUP_SIGNATURE_INVALID). Without a key each prints a warning: checksums catch damage, not a
deliberate edit with recomputed checksums.

  backup --out FILE   write the archive to FILE (written as FILE.partial, renamed when
                      complete, so a failed backup never leaves a plausible file behind)
  backup --out -      write the archive to stdout (e.g. | ssh host 'cat > x')
  backup verify FILE  read FILE without a database and check its framing, every table's
                      row count and checksum, the archive checksum and (with a key) its
                      signature; prints the manifest

Options:
  --out FILE|-  where the archive goes
  --quiet       no progress line (there is none anyway when stderr is not a terminal)
  --json        print the manifest and trailer as JSON on stdout (not with --out -)
  -h, --help

Restore with \`sluice restore --in FILE\`. Database: DATABASE_URL (or DATABASE_URL_FILE), else
the embedded PostgreSQL a running \`sluice up\` started in SLUICE_DATA_DIR.

Exit codes: 0 ok, 1 failure (ARCHIVE_INVALID for a damaged archive, BACKUP_UNSIGNED,
BACKUP_KEY_MISMATCH, BACKUP_SIGNATURE_INVALID), 2 usage error.
`;

export const backupCommand: Command = {
  name: "backup",
  summary: "write a consistent backup archive (or verify one: backup verify FILE)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    try {
      const parsed = parseFlags(
        args,
        {
          out: { type: "string" },
          quiet: { type: "boolean" },
          json: { type: "boolean" },
        },
        HELP,
        { allowPositionals: true },
      );
      if (!parsed) return EXIT_OK;
      const { out, quiet = false, json = false } = parsed.values;
      const [sub, ...rest] = parsed.positionals;
      if (sub === "verify") {
        if (out !== undefined) throw new UsageError("--out does not go with 'verify'");
        if (rest.length !== 1) throw new UsageError("usage: sluice backup verify FILE");
        return await verify(rest[0]!, json);
      }
      if (sub !== undefined) throw new UsageError(`unexpected argument '${sub}'`);
      if (out === undefined) throw new UsageError("missing --out FILE (or --out - for stdout)");
      if (out === "-" && json) throw new UsageError("--json does not go with --out -");
      return await backup(out, quiet, json);
    } catch (e) {
      return reportError(e);
    }
  },
};

/**
 * The archive holds token hashes and payloads: it is created 0600, and exclusively (O_EXCL), so a
 * `FILE.partial` planted as a symlink is never followed and its target never overwritten. A
 * leftover from an interrupted backup (file or link) is removed first, never written through;
 * if something recreates it in between, the open fails rather than follow it.
 */
async function openPartial(partial: string): Promise<Deno.FsFile> {
  await Deno.remove(partial).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  return await Deno.open(partial, { write: true, createNew: true, mode: 0o600 });
}

async function backup(out: string, quiet: boolean, json: boolean): Promise<number> {
  if (out === "-" && Deno.stdout.isTerminal()) {
    throw new UsageError("refusing to write a binary archive to a terminal: redirect stdout");
  }
  const partial = `${out}.partial`;
  const progress = progressLine("backup", { quiet });
  const t0 = performance.now();
  let result: BackupResult;
  try {
    result = await withOperatorDb(async (sql, { config }) => {
      const key = backupKeyOf(config, "write");
      const sink = out === "-" ? Deno.stdout.writable : (await openPartial(partial)).writable;
      return await backupDatabase(sql, sink, { key, onProgress: (p) => progress.update(p) });
    });
  } catch (e) {
    progress.done();
    if (out !== "-") await Deno.remove(partial).catch(() => {});
    throw e;
  }
  progress.done();
  if (out !== "-") await Deno.rename(partial, out);
  const secs = (performance.now() - t0) / 1000;
  const { trailer, compressedBytes } = result;
  if (json) {
    printJson({ file: out, header: result.header, trailer, compressedBytes });
  } else if (!quiet && Deno.stderr.isTerminal()) {
    console.error(
      `wrote ${out === "-" ? "stdout" : `'${out}'`}: ${trailer.tables.length} tables, ` +
        `${trailer.totalRows.toLocaleString("en-US")} rows, ${formatBytes(compressedBytes)} ` +
        `(${formatBytes(trailer.totalBytes)} uncompressed) in ${secs.toFixed(1)} s, ` +
        `schema version ${result.header.schemaVersion}`,
    );
  }
  return EXIT_OK;
}

async function verify(file: string, json: boolean): Promise<number> {
  const key = backupKeyOf(requireConfig().config, "read");
  const f = file === "-" ? null : await Deno.open(file, { read: true });
  const input = f?.readable ?? Deno.stdin.readable;
  const { header, trailer } = await verifyArchive(input, file, { key });
  if (json) {
    printJson({ ok: true, file, signatureVerified: key !== null, header, trailer });
  } else {
    console.log(describeArchive(file, header, trailer, key));
  }
  return EXIT_OK;
}

/** The verified manifest as people read it; restore prints the same. */
export function describeArchive(
  file: string,
  header: ArchiveHeader,
  trailer: ArchiveTrailer,
  key: BackupSigner | null,
): string {
  const lines = [
    `ok: '${file}' is a complete Sluice backup (format ${header.formatVersion}), checksums verified`,
    `  integrity  ${signatureNote(header, key)}`,
    `  taken      ${header.createdAt} from database '${header.database.name}' ` +
    `(PostgreSQL ${header.database.serverVersion})`,
    `  by         sluice ${header.sluiceVersion} (commit ${header.sluiceCommit})`,
    `  schema     version ${header.schemaVersion}`,
    `  contents   ${trailer.tables.length} tables, ${
      trailer.totalRows.toLocaleString("en-US")
    } rows, ${formatBytes(trailer.totalBytes)} of COPY text`,
    "",
    renderTable(trailer.tables.map((t) => ({
      table: t.name,
      rows: t.rows,
      bytes: t.bytes,
      sha256: t.sha256,
    }))),
  ];
  return lines.join("\n");
}
