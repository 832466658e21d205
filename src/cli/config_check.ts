import { isLoopbackHost } from "../api/_cidr.ts";
import { loadConfig } from "../config/load.ts";
import { describeConfig } from "../config/show.ts";
import { describeUnknown } from "../config/unknown.ts";
import { type Config, CONFIG_VARS } from "../config/vars.ts";
import { destinationRules, reachableLoopback } from "../delivery/destination.ts";
import {
  type Command,
  EXIT_OK,
  EXIT_USAGE,
  parseFlags,
  reportError,
  UsageError,
} from "./_command.ts";
import { printJson, printTable } from "./_output.ts";
import { createLogger } from "../obs/log.ts";

function reference(): string {
  const width = Math.max(...CONFIG_VARS.map((v) => v.name.length)) + 2;
  return CONFIG_VARS.map((v) => `  ${v.name.padEnd(width)}${v.description}`).join("\n");
}

const HELP = `Usage: sluice config check [--json | --log]

Validates the whole environment at once and prints every problem, one per line, including
unknown SLUICE_* names (usually typos, with the closest known name). When the configuration is
valid, prints the resolved value of every variable and where it came from (env, file or
default); secrets are shown as <redacted>.

Every variable NAME also has a NAME_FILE variant that reads the value from a file (systemd
credentials, docker secrets); setting both is a problem. An empty value means unset.
Durations: 500ms, 15s, 5m, 2h, 7d. Sizes: 512KB, 1MB (decimal), 2GiB (binary), plain bytes.

Options:
  --json    {"ok","problems","unknown":[{"name","suggestion"}],"warnings","config":[{"name","value","source"}]}
  --log     one JSON log line instead, for a unit's journal beside the role's own lines:
            'config_checked' (variables set, warnings) or 'config_invalid' (code
            CONFIG_INVALID, every problem); the systemd units' ExecStartPre uses it
  -h, --help

Exit codes: 0 valid, 2 any problem or unknown name.

Variables:
${reference()}
`;

export const configCommand: Command = {
  name: "config",
  summary: "check the environment: every problem at once, then the resolved config",
  help: HELP,
  run(args: string[]): Promise<number> {
    try {
      return Promise.resolve(check(args));
    } catch (e) {
      return Promise.resolve(reportError(e));
    }
  },
};

function check(args: string[]): number {
  const parsed = parseFlags(args, { json: { type: "boolean" }, log: { type: "boolean" } }, HELP, {
    allowPositionals: true,
  });
  if (!parsed) return EXIT_OK;
  const [sub, ...rest] = parsed.positionals;
  if (sub === undefined) throw new UsageError("missing subcommand: expected 'check'");
  if (sub !== "check") throw new UsageError(`unknown subcommand '${sub}': expected 'check'`);
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);

  const result = loadConfig();
  const problems = result.ok ? [] : result.problems;
  const unknownLines = result.unknown.map(describeUnknown);
  // Unknown names are already reported as problems here; other warnings still show.
  const warnings = [
    ...result.warnings.filter((w) => !unknownLines.includes(w)),
    ...(result.ok ? deliveryWarnings(result.config) : []),
  ];
  const ok = result.ok && result.unknown.length === 0;
  const rows = result.ok ? describeConfig(result.config, result.sources) : null;

  if (parsed.values.json && parsed.values.log) {
    throw new UsageError("--json and --log exclude each other");
  }
  if (parsed.values.log) {
    // A unit's journal holds the role's JSON lines; the check before it must not break
    // `journalctl -u sluice-api -o cat | jq` with a text table.
    const log = createLogger({ role: "config", format: "json" });
    const problemList = [...problems, ...unknownLines];
    if (!ok) {
      log.error("config_invalid", { code: "CONFIG_INVALID", problems: problemList, warnings });
      return EXIT_USAGE;
    }
    log.info("config_checked", {
      variables_set: rows?.filter((r) => r.source !== "default").length ?? 0,
      variables: rows?.length ?? 0,
      warnings,
    });
    return EXIT_OK;
  }
  if (parsed.values.json) {
    printJson({ ok, problems, unknown: result.unknown, warnings, config: rows });
    return ok ? EXIT_OK : EXIT_USAGE;
  }

  for (const p of [...problems, ...unknownLines]) console.log(`problem: ${p}`);
  for (const w of warnings) console.log(`warning: ${w}`);
  if (rows) {
    if (problems.length + unknownLines.length + warnings.length > 0) console.log("");
    printTable(rows.map((r) => ({ ...r })), ["name", "value", "source"]);
  }
  const count = problems.length + unknownLines.length;
  if (count > 0) {
    console.log(`\n${count} ${count === 1 ? "problem" : "problems"}: the configuration is invalid`);
    return EXIT_USAGE;
  }
  const set = rows?.filter((r) => r.source !== "default").length ?? 0;
  console.log(`\nconfiguration ok (${set} of ${rows?.length ?? 0} variables set)`);
  return EXIT_OK;
}

/**
 * Push reaching this host is safe while only local users can reach the API; once the API
 * listens beyond loopback, whoever holds an admin token (stolen or not) can point a queue at
 * a service bound to 127.0.0.1 and read its answers as job results.
 */
function deliveryWarnings(c: Config): string[] {
  const loopback = reachableLoopback(destinationRules(c));
  if (loopback === null || c.apiAddr === null || isLoopbackHost(c.apiAddr.hostname)) return [];
  return [
    `SLUICE_DELIVERY_ALLOW lets http delivery reach this host ('${loopback}') while SLUICE_API_ADDR listens beyond loopback ('${c.apiAddr.hostname}'): an admin token used from afar can make workers POST to local services and read their answers as job results; keep the API on loopback or allow only receivers off this host`,
  ];
}
