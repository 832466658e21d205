/**
 * The one variable table (`VARS`), assembled from one part per concern in ./vars/. Everything
 * else (the `Config` type, `_FILE` variants, unknown-name detection, `describeConfig`,
 * `sluice config check`) follows from it.
 *
 * Adding a variable:
 * 1. Add one `v({...})` entry (name, parser from ./parse.ts, default, secret flag, one-line
 *    description) to the part it belongs to: database, api, worker, queues (per-queue policy
 *    defaults), delivery, maintenance, alerts, backup or logging. A new concern (say tracing)
 *    gets its own file in ./vars/, spread into `VARS` below.
 * 2. A rule across several variables goes in that part's checks (see `QUEUE_CHECKS`).
 * 3. Nothing else in this folder changes: `sluice config check` lists it, and the tests in
 *    tests/config check that it has a description and that its default parses.
 * 4. Mention it where an operator meets it: README.md (the section of the feature) and the
 *    "Configuration" list of DESIGN.md. No test enforces those lists.
 *
 * Order is the order of `config check`, `describeConfig` and of problems: by concern, then as
 * written in each part.
 */
import { z } from "zod";
import type { VarSpec } from "./spec.ts";
import { ALERT_VARS } from "./vars/alerts.ts";
import { API_VARS } from "./vars/api.ts";
import { BACKUP_VARS } from "./vars/backup.ts";
import { DATABASE_VARS } from "./vars/database.ts";
import { DELIVERY_VARS } from "./vars/delivery.ts";
import { IDENTITY_CHECKS, IDENTITY_VARS } from "./vars/identity.ts";
import { LOGGING_VARS } from "./vars/logging.ts";
import { MAINTENANCE_VARS } from "./vars/maintenance.ts";
import { QUEUE_CHECKS, QUEUE_VARS } from "./vars/queues.ts";
import { TELEMETRY_VARS } from "./vars/telemetry.ts";
import { WORKER_VARS } from "./vars/worker.ts";

export const VARS = {
  ...DATABASE_VARS,
  ...API_VARS,
  ...WORKER_VARS,
  ...QUEUE_VARS,
  ...DELIVERY_VARS,
  ...MAINTENANCE_VARS,
  ...ALERT_VARS,
  ...BACKUP_VARS,
  ...IDENTITY_VARS,
  ...LOGGING_VARS,
  ...TELEMETRY_VARS,
};

export type ConfigSource = "env" | "file" | "default";

type Spec = VarSpec<unknown>;
export type VarKey = keyof typeof VARS;
type Out<S> = S extends VarSpec<infer T> ? T : never;

/** The validated environment. Durations are milliseconds (`…Ms`), sizes bytes (`…Bytes`). */
export type Config = { [K in VarKey]: Out<(typeof VARS)[K]> };
export type ConfigSources = Record<VarKey, ConfigSource>;

export const ENTRIES = Object.entries(VARS) as [VarKey, Spec][];
/** The one schema: raw text per field (defaults applied) → `Config`. */
export const envSchema = z.object(
  Object.fromEntries(ENTRIES.map(([key, spec]) => [key, spec.schema])),
) as unknown as z.ZodType<Config, Partial<Record<VarKey, string>>>;

/** Reference metadata for help text and docs. */
export const CONFIG_VARS: readonly {
  name: string;
  key: VarKey;
  description: string;
  secret: boolean;
  /** The default as an operator would write it; `<hostname>-<pid>` style for computed ones. */
  default: string | null;
}[] = ENTRIES.map(([key, spec]) => ({
  name: spec.name,
  key,
  description: spec.description,
  secret: spec.secret,
  default: typeof spec.default === "function" ? null : spec.default,
}));

/** Cross-field rules, checked once every field parsed. */
export const CHECKS: ((c: Config) => string | null)[] = [...QUEUE_CHECKS, ...IDENTITY_CHECKS];
