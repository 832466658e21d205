import { closestName } from "../config/closest.ts";
import { type Command, EXIT_OK, EXIT_USAGE, reportError, UsageError } from "./_command.ts";
import { COMMANDS } from "./commands.ts";
import { HELP_HELP, renderHelp } from "./help.ts";

/**
 * Dispatches `sluice <command> [args]` and returns the exit code: 0 ok, 1 runtime failure,
 * 2 usage or configuration error. Never exits the process itself, so tests can call it.
 */
export async function runCli(
  args: string[],
  commands: readonly Command[] = COMMANDS,
): Promise<number> {
  try {
    const [first, ...rest] = args;
    if (first === undefined) {
      // No command is a usage error, but the listing is what the person needs to see.
      console.log(renderHelp(commands));
      return EXIT_USAGE;
    }
    if (first === "help" || first === "--help" || first === "-h") return help(rest, commands);
    if (first === "--version" || first === "-V") {
      return await runCli(["version", ...rest], commands);
    }
    if (first.startsWith("-")) throw new UsageError(`unknown option '${first}'`);
    const command = commands.find((c) => c.name === first);
    if (!command) return unknownCommand(first, commands);
    return await command.run(rest);
  } catch (e) {
    return reportError(e);
  }
}

function help(args: string[], commands: readonly Command[]): number {
  const [name, ...extra] = args;
  if (name === undefined) {
    console.log(renderHelp(commands));
    return EXIT_OK;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(HELP_HELP.trimEnd());
    return EXIT_OK;
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const command = commands.find((c) => c.name === name);
  if (!command) return unknownCommand(name, commands);
  console.log(command.help.trimEnd());
  return EXIT_OK;
}

function unknownCommand(name: string, commands: readonly Command[]): number {
  const suggestion = closestName(name, [...commands.map((c) => c.name), "help"]);
  console.error(
    `error: unknown command '${name}'${suggestion ? ` (did you mean '${suggestion}'?)` : ""}`,
  );
  console.error("run 'sluice help' to list commands");
  return EXIT_USAGE;
}
