/**
 * The one loader: environment, `NAME_FILE` files and defaults, validated by one zod schema.
 *
 * Decisions an operator may trip over, written down here:
 * - An empty value (`SLUICE_LEASE=`) means unset, so `Environment=SLUICE_LEASE=` in a systemd
 *   unit falls back to the default instead of failing.
 * - `NAME_FILE` reads the value from a file and strips trailing newlines; an empty file is a
 *   problem (a credential that failed to appear must not silently mean "use the default").
 */
import { SluiceError } from "../errors.ts";
import { quote } from "./parse.ts";
import { describeUnknown, findUnknown, type UnknownVar } from "./unknown.ts";
import {
  CHECKS,
  type Config,
  type ConfigSources,
  ENTRIES,
  envSchema,
  type VarKey,
  VARS,
} from "./vars.ts";

export type ConfigResult =
  | {
    ok: true;
    config: Config;
    sources: ConfigSources;
    warnings: string[];
    /** Unrecognized `SLUICE_*` names: a warning for roles, a problem for `config check`. */
    unknown: UnknownVar[];
  }
  | { ok: false; problems: string[]; warnings: string[]; unknown: UnknownVar[] };

/**
 * Validates the whole environment at once and reports every problem, never just the first.
 * Unknown `SLUICE_*` names do not fail the load (a role still starts, with a warning).
 */
export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): ConfigResult {
  const raw: Partial<Record<VarKey, string>> = {};
  const sources = {} as ConfigSources;
  // Problems keyed by table position so the output follows the table order.
  const problems: { at: number; message: string }[] = [];
  const skip = new Set<VarKey>();

  ENTRIES.forEach(([key, spec], at) => {
    const fileName = `${spec.name}_FILE`;
    const direct = env[spec.name];
    const path = env[fileName];
    const hasDirect = direct !== undefined && direct !== "";
    const hasFile = path !== undefined && path !== "";
    if (hasDirect && hasFile) {
      problems.push({ at, message: `${spec.name} and ${fileName} are both set (use one)` });
      skip.add(key);
      return;
    }
    if (hasFile) {
      sources[key] = "file";
      try {
        const content = Deno.readTextFileSync(path).replace(/[\r\n]+$/, "");
        if (content.trim() === "") {
          problems.push({ at, message: `${fileName}: ${quote(path)} is empty` });
          skip.add(key);
        } else raw[key] = content;
      } catch (e) {
        problems.push({ at, message: `${fileName}: cannot read ${quote(path)} (${readError(e)})` });
        skip.add(key);
      }
      return;
    }
    if (hasDirect) {
      sources[key] = "env";
      raw[key] = direct;
      return;
    }
    sources[key] = "default";
    const d = spec.default;
    if (d !== null) raw[key] = typeof d === "function" ? d() : d;
  });

  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0] as VarKey;
      if (skip.has(key)) continue;
      const at = ENTRIES.findIndex(([k]) => k === key);
      problems.push({ at, message: `${VARS[key].name}: ${issue.message}` });
    }
  } else if (problems.length === 0) {
    CHECKS.forEach((check) => {
      const message = check(parsed.data);
      if (message) problems.push({ at: ENTRIES.length, message });
    });
  }

  const unknown = findUnknown(env);
  const warnings = unknown.map(describeUnknown);

  if (problems.length > 0 || !parsed.success) {
    problems.sort((a, b) => a.at - b.at);
    return { ok: false, problems: problems.map((p) => p.message), warnings, unknown };
  }
  return { ok: true, config: parsed.data, sources, warnings, unknown };
}

/** For roles: the config, or a `CONFIG_INVALID` error listing every problem. */
export function requireConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): { config: Config; sources: ConfigSources; warnings: string[] } {
  const result = loadConfig(env);
  if (!result.ok) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `invalid configuration (run 'sluice config check'): ${result.problems.join("; ")}`,
      { problems: result.problems },
    );
  }
  return { config: result.config, sources: result.sources, warnings: result.warnings };
}

function readError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}
