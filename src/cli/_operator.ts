import { requireConfig } from "../config/load.ts";
import { parseDuration } from "../config/parse.ts";
import type { Config } from "../config/vars.ts";
import { openDatabase, type Sql } from "../db/connect.ts";
import { UsageError } from "./_command.ts";
import { engineDefaults } from "./_runtime.ts";
import type { EngineDefaults } from "../queue/queues.ts";

/**
 * Runs an operator command against the database named by the loaded config (DATABASE_URL or
 * DATABASE_URL_FILE), else the embedded cluster a running `sluice up` started in
 * SLUICE_DATA_DIR (a clear error when none runs).
 */
export async function withOperatorDb<T>(
  fn: (sql: Sql, ctx: { config: Config; defaults: EngineDefaults }) => Promise<T>,
  { max = 2 }: { max?: number } = {},
): Promise<T> {
  const { config } = requireConfig();
  const sql = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, max });
  try {
    return await fn(sql, { config, defaults: engineDefaults(config) });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === null) {
    throw new UsageError(`--${name}: "${value}" is not a duration (use e.g. 500ms, 15s, 5m)`);
  }
  return ms;
}

export function intFlag(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}: "${value}" is not a whole number from ${min} to ${max}`);
  }
  return n;
}

export function jsonFlag(name: string, value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new UsageError(`--${name}: not valid JSON (${(e as Error).message})`);
  }
}

/** The single positional argument a subcommand needs, e.g. a job id. */
export function onePositional(positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what}`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  return positionals[0]!;
}
