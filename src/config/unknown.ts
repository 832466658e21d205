/** Unknown `SLUICE_*` names in the environment, usually typos, with the name they likely meant. */
import { closestName } from "./closest.ts";
import { ENTRIES } from "./vars.ts";

/** Set by Sluice itself in the environment of exec handlers; not configuration. */
const RESERVED = new Set(["SLUICE_JOB_ID", "SLUICE_ATTEMPT"]);
const NAMES = ENTRIES.map(([, spec]) => spec.name);
const KNOWN = new Set(NAMES.flatMap((n) => [n, `${n}_FILE`]));

export interface UnknownVar {
  name: string;
  /** The known name it most likely meant, or null. */
  suggestion: string | null;
}

/** `SLUICE_LEAS is not a Sluice variable (did you mean SLUICE_LEASE?)` */
export function describeUnknown(u: UnknownVar): string {
  return `${u.name} is not a Sluice variable${
    u.suggestion ? ` (did you mean ${u.suggestion}?)` : ""
  }`;
}

export function findUnknown(env: Record<string, string | undefined>): UnknownVar[] {
  const out: UnknownVar[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const upper = name.toUpperCase();
    if (!upper.startsWith("SLUICE_") || KNOWN.has(name) || RESERVED.has(name)) continue;
    out.push({ name, suggestion: suggestVar(upper) });
  }
  return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function suggestVar(upper: string): string | null {
  // `SLUICE_DATABASE_URL` is a common guess for `DATABASE_URL`.
  const stripped = upper.slice("SLUICE_".length);
  if (KNOWN.has(stripped)) return stripped;
  return closestName(upper, [...KNOWN]);
}
