import { databaseOptionsFromEnv, openDatabase } from "../db/connect.ts";
import { migrate, migrationLabel, migrationStatus } from "../db/migrate.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";

const HELP = `Usage: sluice migrate [up|status] [--json]

Applies Sluice's embedded SQL migrations (forward-only, in one transaction, serialized by an
advisory lock so concurrent runs are safe) or shows which are applied.

Subcommands:
  up        apply every pending migration (default)
  status    list migrations: version, name, state (applied, pending, checksum_mismatch),
            applied at

Options:
  --json    machine-readable output
  -h, --help

Database: DATABASE_URL when set, otherwise the embedded PostgreSQL that a running
\`sluice up\` started in SLUICE_DATA_DIR (default ./sluice-data).

Exit codes: 0 ok, 1 failure (e.g. MIGRATION_CHECKSUM_MISMATCH), 2 usage error.
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
      const sql = await openDatabase({ ...databaseOptionsFromEnv(), max: 1 });
      try {
        return sub === "up" ? await runUp(sql, json) : await runStatus(sql, json);
      } finally {
        await sql.end();
      }
    } catch (e) {
      return reportError(e);
    }
  },
};

async function runUp(sql: Parameters<typeof migrate>[0], json: boolean): Promise<number> {
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

async function runStatus(sql: Parameters<typeof migrate>[0], json: boolean): Promise<number> {
  const status = await migrationStatus(sql);
  if (json) {
    console.log(JSON.stringify(
      status.map((s) => ({ ...s, appliedAt: s.appliedAt?.toISOString() ?? null })),
      null,
      2,
    ));
    return EXIT_OK;
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
  return EXIT_OK;
}
