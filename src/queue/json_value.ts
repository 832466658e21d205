/**
 * What PostgreSQL cannot store, found before it is sent: `jsonb` and `text` refuse U+0000 and
 * unpaired UTF-16 surrogates (JSON.stringify writes them as `\ud800` escapes, which jsonb
 * rejects), and very deep documents risk PostgreSQL's stack depth limit and every consumer's
 * recursion. Left to the database these become a 500; checked here they are a 400.
 */

/** Deepest payload nesting accepted (arrays and objects). */
export const MAX_JSON_DEPTH = 100;

/** True when `s` has no U+0000 and no unpaired surrogate: storable as PostgreSQL text. */
export function isStorableText(s: string): boolean {
  return !s.includes("\u0000") && s.isWellFormed();
}

/**
 * The first problem that keeps `value` out of a jsonb column, or null. Iterative, so a document
 * nested a million levels deep costs a loop, not a stack overflow.
 */
export function jsonValueProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "string") {
      if (!isStorableText(v)) return "must not contain U+0000 or unpaired surrogates";
    } else if (v !== null && typeof v === "object") {
      if (depth >= maxDepth) return `must not be nested deeper than ${maxDepth} levels`;
      if (Array.isArray(v)) {
        for (const x of v) stack.push([x, depth + 1]);
      } else {
        for (const [k, x] of Object.entries(v)) {
          if (!isStorableText(k)) return "must not contain U+0000 or unpaired surrogates";
          stack.push([x, depth + 1]);
        }
      }
    }
  }
  return null;
}

/** The deepest nesting of arrays and objects in `value` (0 for a scalar), counted without recursion. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      if (x !== null && typeof x === "object") stack.push([x, depth + 1]);
    }
  }
  return deepest;
}

/**
 * `s` made storable: U+0000 and unpaired surrogates become U+FFFD. For text Sluice records
 * rather than accepts (a handler's error message, a response excerpt): an exec handler that
 * prints a NUL, or a cut through a surrogate pair at the length cap, must not make the failure
 * itself unrecordable.
 */
export function storableText(s: string): string {
  return isStorableText(s) ? s : s.toWellFormed().replaceAll("\u0000", "\ufffd");
}
