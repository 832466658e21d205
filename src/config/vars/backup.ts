/** `sluice backup` / `restore`: the key that signs archives. */
import { backupKeyId } from "../../backup/key.ts";
import { longSecret } from "../parse.ts";
import { v } from "../spec.ts";

export const BACKUP_VARS = {
  backupKey: v({
    name: "SLUICE_BACKUP_KEY",
    default: null,
    secret: true,
    // The session secret's rule: 32+ characters.
    parse: longSecret,
    // The key id is written into every signed archive: showing it tells which key is loaded.
    redact: (k) => `<redacted, key id ${backupKeyId(k)}>`,
    nullLabel: "(none: archives unsigned)",
    description:
      "Key that signs backups (HMAC-SHA256), 32+ chars; backup verify and restore then refuse unsigned or altered archives; unset = unsigned",
  }),
};
