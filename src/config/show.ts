/** The resolved configuration as rows (secrets redacted), for `config check` and start-up logs. */
import type { Config, ConfigSource, ConfigSources } from "./vars.ts";
import { ENTRIES } from "./vars.ts";

export interface ConfigRow {
  name: string;
  /** Human form; secrets redacted. */
  value: string;
  source: ConfigSource;
}

/** One row per variable, in table order, for `config check` and start-up logs. */
export function describeConfig(
  config: Config,
  sources: Partial<ConfigSources> = {},
): ConfigRow[] {
  return ENTRIES.map(([key, spec]) => ({
    name: spec.name,
    value: spec.show(config[key]),
    source: sources[key] ?? "default",
  }));
}
