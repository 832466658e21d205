/**
 * Password rotation without a restart: with `DATABASE_URL_FILE`, postgres.js asks for the
 * password on every new connection, and this reads it from the file each time. Established
 * connections stay logged in (PostgreSQL checks the password only at login), so the procedure
 * is: change the role's password, rewrite the file, then connections opened from then on
 * (reconnects, pool growth, `pg_terminate_backend`) use the new one. Only the password is
 * re-read; a changed host list or user takes a restart.
 */
import { SluiceError } from "../errors.ts";
import { parsePostgresUrl } from "./url.ts";

export function passwordFromUrlFile(path: string): () => Promise<string> {
  return async () => {
    let text: string;
    try {
      text = (await Deno.readTextFile(path)).replace(/[\r\n]+$/, "");
    } catch (e) {
      throw new SluiceError(
        "CONFIG_INVALID",
        `DATABASE_URL_FILE: cannot read '${path}' for the next connection: ${(e as Error).message}`,
        { path },
        { cause: e },
      );
    }
    return parsePostgresUrl(text).password;
  };
}
