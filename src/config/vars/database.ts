/** Where the data lives: the PostgreSQL URL or the embedded cluster, and migrations at start. */
import { SluiceError } from "../../errors.ts";
import { describePostgresUrl, parsePostgresUrl } from "../../db/url.ts";
import { bool, invalid, showSize, size, text } from "../parse.ts";
import { redactLength, v } from "../spec.ts";

function postgresUrl(raw: string): string {
  const text = raw.trim();
  try {
    parsePostgresUrl(text);
  } catch (e) {
    // The problem never quotes the value: it may hold a password.
    return invalid(String((e as SluiceError).details?.problem ?? (e as Error).message));
  }
  return text;
}

/** Shows where the database is (scheme, user, hosts, database) but never the password or query. */
function redactUrl(value: string): string {
  try {
    return describePostgresUrl(value);
  } catch {
    return redactLength(value);
  }
}

export const DATABASE_VARS = {
  databaseUrl: v({
    name: "DATABASE_URL",
    default: null,
    secret: true,
    parse: postgresUrl,
    redact: redactUrl,
    nullLabel: "(embedded PostgreSQL in SLUICE_DATA_DIR)",
    description:
      "PostgreSQL URL (postgres://user:pass@host:5432/db); unset = embedded cluster in SLUICE_DATA_DIR",
  }),
  dataDir: v({
    name: "SLUICE_DATA_DIR",
    default: "./sluice-data",
    parse: text(),
    description:
      "Directory for the embedded PostgreSQL cluster and local state; default ./sluice-data",
  }),
  pgBin: v({
    name: "SLUICE_PG_BIN",
    default: null,
    parse: text(),
    nullLabel: "(search PATH and /usr/lib/postgresql/*/bin)",
    description: "Directory holding initdb and pg_ctl for the embedded cluster; unset = search",
  }),
  migrateOnStartup: v({
    name: "SLUICE_MIGRATE_ON_STARTUP",
    default: null,
    parse: bool,
    nullLabel: "(role default)",
    description: "Apply pending migrations at start (true/false/1/0/yes/no); unset = role default",
  }),
  minFreeDiskBytes: v({
    name: "SLUICE_MIN_FREE_DISK",
    default: "1GB",
    parse: size(),
    show: showSize,
    description:
      "Embedded PostgreSQL refuses to start below this free space in SLUICE_DATA_DIR; 0 disables",
  }),
};
