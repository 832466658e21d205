import { parseArgs, type ParseArgsConfig } from "node:util";
import { isSluiceError } from "../errors.ts";

/** One top-level subcommand (`sluice <name> …`). Its help text lives beside its code. */
export interface Command {
  name: string;
  /** One line for `sluice help`. */
  summary: string;
  /** Full text for `sluice <name> --help`. */
  help: string;
  /** Returns the process exit code: 0 ok, 1 runtime failure, 2 usage or configuration error. */
  run(args: string[]): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Bad flags or arguments: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `parseArgs` in strict mode (unknown flags are errors) plus `--help`. Returns null when help
 * was printed, so a command does `const a = parseFlags(...); if (!a) return 0;`.
 */
export function parseFlags<O extends Options>(
  args: string[],
  options: O,
  help: string,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help.trimEnd());
    return null;
  }
  return parsed;
}

/**
 * The subcommand named first, refusing a missing or unknown one and any flag (but --json) that
 * does not apply to it; `allowed` lists each subcommand's flags.
 */
export function subcommandOf<V extends object>(
  command: string,
  positionals: string[],
  values: V,
  allowed: Record<string, (keyof V)[]>,
): { sub: string; rest: string[] } {
  const [sub, ...rest] = positionals;
  if (!sub) throw new UsageError(`missing subcommand (${Object.keys(allowed).join(", ")})`);
  const flags = allowed[sub];
  if (!flags) throw new UsageError(`unknown subcommand '${sub}'`);
  for (const key of Object.keys(values) as (keyof V)[]) {
    if (key !== "json" && !flags.includes(key)) {
      throw new UsageError(`--${String(key)} does not apply to '${command} ${sub}'`);
    }
  }
  return { sub, rest };
}

/** Codes that mean "what you typed is wrong", not "something failed": exit 2. */
const USAGE_CODES = new Set([
  "CONFIG_INVALID",
  "VALIDATION_FAILED",
  "INVALID_QUEUE_NAME",
  "INVALID_KIND",
]);

/** The exit code for an error: 2 for what the caller typed or configured, 1 for the rest. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (isSluiceError(e)) return USAGE_CODES.has(e.code) ? EXIT_USAGE : EXIT_FAILURE;
  return EXIT_FAILURE;
}

/** Prints an error the way every command does and returns its exit code. */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) console.error(`error: ${e.message} (see --help)`);
  else if (isSluiceError(e)) console.error(`error: ${e.code}: ${e.message}`);
  else console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  return exitCodeOf(e);
}
