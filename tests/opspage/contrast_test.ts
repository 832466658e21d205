/**
 * WCAG contrast of the page's state colours, computed from static/app.css itself: every colour
 * a `.s-*` class (state chips, the status word) or the live label uses must reach 4.5:1 on the
 * chip, panel and page backgrounds, in the light and in the dark theme.
 */
import { deepEqual, ok as assert } from "node:assert/strict";

const CSS = await Deno.readTextFile(new URL("../../static/app.css", import.meta.url));

/** The custom properties declared in the first block whose selector matches `selector`. */
function vars(selector: RegExp): Record<string, string> {
  const m = CSS.match(new RegExp(`${selector.source}\\s*\\{([^}]*)\\}`));
  assert(m, `no block ${selector}`);
  return Object.fromEntries(
    [...m[1]!.matchAll(/--([\w-]+):\s*([^;]+);/g)].map((x) => [x[1]!, x[2]!.trim()]),
  );
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) =>
    c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  );
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** The variables the state classes colour their text with. */
function stateColourVars(): string[] {
  const used = new Set<string>();
  for (const m of CSS.matchAll(/((?:\.s-[\w-]+,?\s*)+)\{\s*color:\s*var\(--([\w-]+)\)/g)) {
    used.add(m[2]!);
  }
  for (const m of CSS.matchAll(/\.live[^{]*\{[^}]*?color:\s*var\(--([\w-]+)\)/g)) used.add(m[1]!);
  return [...used].sort();
}

const LIGHT = vars(/:root/);
const DARK = vars(/:root\[data-theme="dark"\]/);

Deno.test("contrast() matches WCAG's reference values", () => {
  assert(Math.abs(contrast("#000000", "#ffffff") - 21) < 1e-9);
  assert(Math.abs(contrast("#767676", "#ffffff") - 4.54) < 0.01);
});

Deno.test("the system dark theme and the chosen dark theme are the same colours", () => {
  deepEqual(vars(/:root:not\(\[data-theme="light"\]\)/), DARK);
});

Deno.test("state chips, the status word and the live label reach 4.5:1 in both themes", () => {
  const colours = stateColourVars();
  for (const v of ["ok", "bad", "warn", "accent", "muted"]) assert(colours.includes(v), v);
  const failures: string[] = [];
  for (const [theme, t] of [["light", LIGHT], ["dark", DARK]] as const) {
    for (const fg of colours) {
      for (const bg of ["chip", "panel", "bg"]) {
        const ratio = contrast(t[fg]!, t[bg]!);
        if (ratio < 4.5) failures.push(`${theme}: --${fg} on --${bg} is ${ratio.toFixed(2)}:1`);
      }
    }
    const button = contrast(t["on-accent"]!, t.accent!);
    if (button < 4.5) failures.push(`${theme}: primary button text is ${button.toFixed(2)}:1`);
  }
  deepEqual(failures, []);
});
