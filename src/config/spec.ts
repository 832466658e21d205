/**
 * The spec builder: `v()` turns one table entry (name, parser, default, secret flag,
 * description) into what the loader and `config check` need — a zod field schema that collects
 * every parser message as an issue, and a `show` that redacts secrets.
 */
import { z } from "zod";
import { Invalid } from "./parse.ts";

export interface VarSpec<T> {
  name: string;
  /** One line with units, default and special values; shown by `sluice config check --help`. */
  description: string;
  /** Raw default text (parsed like a user's value), a function computing it, or null (unset → null). */
  default: string | (() => string) | null;
  secret: boolean;
  /** Parses the raw text (never undefined once the default is applied; null default → null). */
  schema: z.ZodType<T, string | undefined>;
  /** Human form of a parsed value for `describeConfig`. */
  show: (value: T) => string;
}

interface SpecInput<T> {
  name: string;
  description: string;
  secret?: boolean;
  parse: (raw: string) => T;
  show?: (value: T) => string;
  /** How null shows in `describeConfig` (e.g. "off", "none"). */
  nullLabel?: string;
  /** For secrets: what may be shown instead of the value (default `<redacted, N chars>`). */
  redact?: (value: T) => string;
}

function defaultShow(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.join(",");
  return String(value);
}

// Overloads: a variable with a default is never null; one without is `T | null`.
export function v<T>(spec: SpecInput<T> & { default: string | (() => string) }): VarSpec<T>;
export function v<T>(spec: SpecInput<T> & { default: null }): VarSpec<T | null>;
export function v<T>(
  spec: SpecInput<T> & { default: string | (() => string) | null },
): VarSpec<T | null> {
  const secret = spec.secret ?? false;
  const nullLabel = spec.nullLabel ?? "(unset)";
  const schema = z.string().optional().transform((raw, ctx): T | null => {
    if (raw === undefined) return null;
    try {
      return spec.parse(raw);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      for (const message of e.messages) ctx.addIssue({ code: "custom", message, input: raw });
      return z.NEVER;
    }
  });
  const show = (value: T | null): string => {
    if (value === null) return nullLabel;
    if (secret) return spec.redact ? spec.redact(value) : redactLength(value);
    return spec.show ? spec.show(value) : defaultShow(value);
  };
  return {
    name: spec.name,
    description: spec.description,
    default: spec.default,
    secret,
    schema,
    show,
  };
}

export function redactLength(value: unknown): string {
  if (Array.isArray(value)) {
    return `<redacted, ${value.length} ${value.length === 1 ? "secret" : "secrets"}>`;
  }
  return `<redacted, ${String(value).length} chars>`;
}
