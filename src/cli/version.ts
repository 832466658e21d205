import { MIGRATIONS } from "../db/migrations.ts";
import { versionInfo } from "../version.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { printJson } from "./_output.ts";

const HELP = `Usage: sluice version [--json]

Prints Sluice's version, the commit it was built from and when (\`dev\` for an unbundled
run), the database schema version this build migrates to (its latest embedded migration),
and the Deno runtime it runs on. Compare it across machines before promoting a release.

Options:
  --json    machine-readable output: {"version","commit","builtAt","schemaVersion","deno",
            "v8","typescript"}
  -h, --help
`;

export const versionCommand: Command = {
  name: "version",
  summary: "print the version, build commit and runtime",
  help: HELP,
  run(args: string[]): Promise<number> {
    try {
      return Promise.resolve(printVersion(args));
    } catch (e) {
      return Promise.resolve(reportError(e));
    }
  },
};

function printVersion(args: string[]): number {
  const parsed = parseFlags(args, { json: { type: "boolean" } }, HELP);
  if (!parsed) return EXIT_OK;
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
  }
  const info = { ...versionInfo(), schemaVersion: MIGRATIONS.at(-1)?.version ?? 0, ...runtime() };
  if (parsed.values.json) {
    printJson(info);
  } else {
    console.log(
      `sluice ${info.version} (commit ${info.commit}, built ${info.builtAt}, schema ` +
        `${info.schemaVersion}; deno ${info.deno})`,
    );
  }
  return EXIT_OK;
}

function runtime(): { deno: string; v8: string; typescript: string } {
  return { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript };
}
