import type { Sql } from "../db/connect.ts";
import { migrate, migrationLabel, type MigrationStatus, migrationStatus } from "../db/migrate.ts";
import {
  type Command,
  EXIT_FAILURE,
  EXIT_OK,
  parseFlags,
  reportError,
  UsageError,
} from "./_command.ts";
import { withOperatorDb } from "./_operator.ts";
import { VERSION } from "../version.ts";

const HELP = `Usage: sluice migrate [up|status] [--json]

Applies Sluice's embedded SQL migrations (forward-only, in one transaction, serialized by an
advisory lock so concurrent runs are safe) or shows which are applied.

Subcommands:
  up        apply every pending migration (default)
  status    list migrations: version, name, state (applied, pending, checksum_mismatch,
            unknown = recorded by a newer Sluice, not in this build), applied at

Options:
  --json    machine-readable output
  -h, --help

Database: DATABASE_URL (or DATABASE_URL_FILE) when set, otherwise the embedded PostgreSQL that a running
\`sluice up\` started in SLUICE_DATA_DIR (default ./sluice-data).

Exit codes: 0 ok (status: pending migrations are fine), 1 failure (e.g.
MIGRATION_CHECKSUM_MISMATCH; status: a checksum_mismatch or unknown migration), 2 usage error.
`;

export const migrateCommand: Command = {
  name: "migrate",
  summary: "apply database migrations (up) or show their state (status)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    try {
      const parsed = parseFlags(args, { json: { type: "boolean" } }, HELP, {
        allowPositionals: true,
      });
      if (!parsed) return EXIT_OK;
      const [sub = "up", ...rest] = parsed.positionals;
      if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
      if (sub !== "up" && sub !== "status") {
        throw new UsageError(`unknown subcommand '${sub}': expected 'up' or 'status'`);
      }
      const json = parsed.values.json === true;
      return await withOperatorDb(
        (sql) => sub === "up" ? runUp(sql, json) : runStatus(sql, json),
        { max: 1 },
      );
    } catch (e) {
      return reportError(e);
    }
  },
};

async function runUp(sql: Sql, json: boolean): Promise<number> {
  const { applied } = await migrate(sql, undefined, json ? undefined : (l) => console.log(l));
  if (json) {
    console.log(JSON.stringify({ applied }));
  } else if (applied.length === 0) {
    console.log("nothing to apply: the schema is up to date");
  } else {
    console.log(`applied ${applied.length} ${applied.length === 1 ? "migration" : "migrations"}`);
  }
  return EXIT_OK;
}

async function runStatus(sql: Sql, json: boolean): Promise<number> {
  const status = await migrationStatus(sql);
  if (json) {
    console.log(JSON.stringify(
      status.map((s) => ({ ...s, appliedAt: s.appliedAt?.toISOString() ?? null })),
      null,
      2,
    ));
    return statusProblem(status) ? EXIT_FAILURE : EXIT_OK;
  }
  const rows = [
    ["VERSION", "NAME", "STATE", "APPLIED AT"],
    ...status.map((s) => [
      String(s.version).padStart(4, "0"),
      s.name,
      s.state,
      s.appliedAt?.toISOString() ?? "-",
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
  const pending = status.filter((s) => s.state === "pending");
  if (pending.length > 0) {
    console.log(`\n${pending.length} pending: ${pending.map(migrationLabel).join(", ")}`);
  }
  const problem = statusProblem(status);
  if (problem) console.error(`error: ${problem}`);
  return problem ? EXIT_FAILURE : EXIT_OK;
}

/**
 * Why a status listing is not a schema this build can run on (pending ones are fine: `migrate
 * up` applies them), so scripts and deploy checks can rely on the exit code.
 */
function statusProblem(status: MigrationStatus[]): string | null {
  const changed = status.filter((s) => s.state === "checksum_mismatch");
  if (changed.length > 0) {
    return `MIGRATION_CHECKSUM_MISMATCH: ${
      changed.map(migrationLabel).join(", ")
    } changed after being applied (forward-only: restore the original file, put the change in a new migration)`;
  }
  const unknown = status.filter((s) => s.state === "unknown");
  if (unknown.length > 0) {
    return `${
      unknown.map(migrationLabel).join(", ")
    } applied by a newer Sluice and unknown to this build (${VERSION}): run that version or newer`;
  }
  return null;
}
