/**
 * The backup key (`SLUICE_BACKUP_KEY`): keyed integrity for archives. Checksums alone catch
 * damage, not a deliberate edit: whoever can write an archive can recompute them (issue #14).
 * With a key, the trailer carries an HMAC-SHA256 that only a holder of the key can compute, and
 * `backup verify` and `restore` refuse an archive whose HMAC is missing or wrong.
 *
 * The key id (first 8 hex digits of the key's SHA-256) is written in the clear next to the MAC
 * so a wrong key ("made with key X, you have key Y") is told apart from tampering. It names the
 * key without revealing it: the key is at least 32 characters.
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_ALG = "hmac-sha256" as const;

/** What writing and checking archive signatures needs; tests pass their own to forge one. */
export interface BackupSigner {
  readonly keyId: string;
  /** HMAC-SHA256 of `message`, hex. */
  mac(message: Uint8Array): string;
}

/** A signer for `secret` (already validated by config: 32+ characters). */
export function backupKey(secret: string): BackupSigner {
  const key = new TextEncoder().encode(secret);
  return {
    keyId: backupKeyId(secret),
    mac: (message) => createHmac("sha256", key).update(message).digest("hex"),
  };
}

/** `printf %s "$KEY" | sha256sum | cut -c1-8` gives the same, for operators. */
export function backupKeyId(secret: string): string {
  return createHash("sha256").update(secret).digest("hex").slice(0, 8);
}

/** Constant-time comparison of `mac` with the key's HMAC of `message`. */
export function macMatches(key: BackupSigner, message: Uint8Array, mac: unknown): boolean {
  if (typeof mac !== "string" || !/^[0-9a-f]{64}$/.test(mac)) return false;
  return timingSafeEqual(Buffer.from(key.mac(message), "hex"), Buffer.from(mac, "hex"));
}
