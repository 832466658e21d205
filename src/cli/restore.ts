import { restoreDatabase } from "../backup/restore.ts";
import { backupKeyOf, signatureNote } from "./_backup_key.ts";
import { requireConfig } from "../config/load.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { withOperatorDb } from "./_operator.ts";
import { printJson, renderTable } from "./_output.ts";
import { formatBytes, progressLine } from "./_progress.ts";

const HELP = `Usage: sluice restore --in FILE|- [--force-replace] [--quiet] [--json]

Restores a \`sluice backup\` archive into a database without Sluice data, in ONE transaction:
the schema is created at the archive's schema version, every table is loaded with COPY, each
table's row count and SHA-256 checksum and the archive checksum are verified, and only then
are newer migrations applied and the transaction committed. A damaged or truncated archive,
or any other failure, leaves the database exactly as it was.

With SLUICE_BACKUP_KEY (or SLUICE_BACKUP_KEY_FILE) the archive must be signed with that key:
an unsigned archive (BACKUP_UNSIGNED) or one made with another key (BACKUP_KEY_MISMATCH) is
refused before anything is loaded, one changed after it was written (BACKUP_SIGNATURE_INVALID)
before COMMIT. Without a key, a warning says the archive's integrity is unkeyed (checksums catch
damage, not tampering), and the restore goes on.

After a restore:
  - jobs that were running at backup time are available again, with their attempt given back
    (their workers are gone); running jobs whose cancellation was asked for are cancelled
  - id and fencing-number sequences continue past every restored value and, with
    --force-replace, past every value the replaced database had handed out
  - API tokens are restored as the hashes they are stored as

Options:
  --in FILE|-       the archive (- reads stdin)
  --force-replace   restore into a database that holds Sluice data: first prints every table
                    and row count it deletes (the whole 'sluice' schema is dropped)
  --quiet           no progress line (none anyway when stderr is not a terminal)
  --json            print the result as JSON on stdout
  -h, --help

Stop Sluice's roles (api, workers, maintenance) before restoring: the restore waits for their
locks, and they would see the schema replaced under them.

Database: DATABASE_URL (or DATABASE_URL_FILE), else the embedded PostgreSQL a running
\`sluice up\` started in SLUICE_DATA_DIR.

Exit codes: 0 ok, 1 failure (RESTORE_TARGET_NOT_EMPTY, ARCHIVE_INVALID, ARCHIVE_TOO_NEW,
BACKUP_UNSIGNED, BACKUP_KEY_MISMATCH, BACKUP_SIGNATURE_INVALID), 2 usage error.
`;

export const restoreCommand: Command = {
  name: "restore",
  summary: "restore a backup archive into an empty database (verified, one transaction)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    try {
      const parsed = parseFlags(args, {
        in: { type: "string" },
        "force-replace": { type: "boolean" },
        quiet: { type: "boolean" },
        json: { type: "boolean" },
      }, HELP);
      if (!parsed) return EXIT_OK;
      const file = parsed.values.in;
      if (file === undefined) throw new UsageError("missing --in FILE (or --in - for stdin)");
      const quiet = parsed.values.quiet === true;
      const json = parsed.values.json === true;
      // Before the progress line, so the warning is not drawn over.
      const key = backupKeyOf(requireConfig().config, "read");
      const f = file === "-" ? null : await Deno.open(file, { read: true });
      const size = f ? (await f.stat()).size : undefined;
      const progress = progressLine("restore", { quiet, totalArchiveBytes: size });
      const t0 = performance.now();
      const result = await withOperatorDb((sql) =>
        restoreDatabase(sql, f?.readable ?? Deno.stdin.readable, {
          key,
          forceReplace: parsed.values["force-replace"] === true,
          source: file,
          onProgress: (p) => progress.update(p),
          onReplace: ({ schemaVersion, tables }) => {
            progress.done();
            // Always printed, also with --quiet: the user should see what was deleted.
            console.error(
              `--force-replace: deleting schema 'sluice' (version ${schemaVersion}) with:\n` +
                renderTable(tables.map((t) => ({ table: t.table, rows: t.rows }))),
            );
          },
          log: (line) => quiet || json ? undefined : console.error(line),
        })
      ).finally(() => progress.done());
      const secs = (performance.now() - t0) / 1000;
      const { header, trailer } = result;
      if (json) {
        printJson({
          ok: true,
          file,
          schemaVersion: header.schemaVersion,
          signatureVerified: key !== null,
          migrated: result.migrated,
          releasedJobs: result.releasedJobs,
          replaced: result.replaced,
          tables: trailer.tables,
        });
      } else if (!quiet) {
        console.log(
          `restored '${file}' (taken ${header.createdAt}, schema version ` +
            `${header.schemaVersion}): ${trailer.tables.length} tables, ` +
            `${trailer.totalRows.toLocaleString("en-US")} rows, ` +
            `${formatBytes(trailer.totalBytes)} in ${secs.toFixed(1)} s; checksums verified, ` +
            signatureNote(header, key) +
            (result.migrated.length > 0
              ? `; applied ${result.migrated.length} newer migration(s)`
              : "") +
            (result.releasedJobs > 0
              ? `; ${result.releasedJobs} running job(s) made available again`
              : ""),
        );
      }
      return EXIT_OK;
    } catch (e) {
      return reportError(e);
    }
  },
};
