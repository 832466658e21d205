/**
 * The backup key for `sluice backup`, `backup verify` and `restore`, with the one warning each
 * prints when there is none. Always printed (also with --quiet or --json, on stderr): without a
 * key, an archive edited by whoever can write it passes every check.
 */
import type { Config } from "../config/vars.ts";
import type { ArchiveHeader } from "../backup/archive.ts";
import { backupKey, type BackupSigner } from "../backup/key.ts";

const UNKEYED = "checksums catch damage, not a deliberate edit with recomputed checksums";
const WARNING = {
  write: `the archive is unsigned (${UNKEYED}); set SLUICE_BACKUP_KEY or ` +
    "SLUICE_BACKUP_KEY_FILE to sign it",
  read: `the archive's integrity is unkeyed (${UNKEYED}); set SLUICE_BACKUP_KEY or ` +
    "SLUICE_BACKUP_KEY_FILE to refuse unsigned and altered archives",
};

/** The configured key, or null after printing why that is weaker (`write`: backup). */
export function backupKeyOf(config: Config, use: "write" | "read"): BackupSigner | null {
  if (config.backupKey) return backupKey(config.backupKey);
  console.error(`warning: no SLUICE_BACKUP_KEY: ${WARNING[use]}`);
  return null;
}

/** How a read archive's signature stands, for the summary line. */
export function signatureNote(header: ArchiveHeader, key: BackupSigner | null): string {
  if (key) return `signature verified (backup key '${key.keyId}')`;
  if (header.signedWith) {
    return `signed with backup key '${header.signedWith.keyId}', not checked (no key)`;
  }
  return "unsigned";
}
