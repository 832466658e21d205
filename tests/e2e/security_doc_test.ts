/**
 * SECURITY.md says "a claim without a test is not on this page". This test keeps that true: every
 * claim under "Claims and their tests" names at least one test file, every named file exists, and
 * every quoted test name after a file is a `Deno.test` or `t.step` name in that file. A renamed or
 * deleted test therefore fails here instead of leaving a claim without proof.
 */
import { ok as assert } from "node:assert/strict";
import { ROOT } from "./_doc_blocks.ts";

const squash = (text: string) => text.replace(/\s+/g, " ");

/** The bullets of the claims section, each joined into one line. */
function claims(markdown: string): string[] {
  const start = markdown.indexOf("## Claims and their tests");
  const end = markdown.indexOf("\n## ", start + 1);
  assert(start >= 0, "SECURITY.md has no claims section");
  const section = markdown.slice(start, end < 0 ? undefined : end);
  // A paragraph after the list is not a claim.
  return section.split(/\n(?=- )/).slice(1).map((bullet) => squash(bullet.split(/\n\n/)[0] ?? ""));
}

/** `tests/…_test.ts` pointers with the quoted test names that follow each one. */
function pointers(claim: string): { file: string; names: string[] }[] {
  const found: { file: string; names: string[] }[] = [];
  for (const part of claim.split(/(?=`tests\/)/).slice(1)) {
    const file: string | undefined = part.match(/^`(tests\/[^`]+_test\.ts)`/)?.[1];
    if (!file) continue;
    const names = [...part.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? "");
    found.push({ file, names });
  }
  return found;
}

Deno.test("SECURITY.md: every claim points at tests that exist, by their names", async () => {
  const list = claims(await Deno.readTextFile(`${ROOT}SECURITY.md`));
  assert(list.length >= 15, `SECURITY.md lists only ${list.length} claims`);
  for (const claim of list) {
    const refs = pointers(claim);
    assert(
      refs.length > 0 || /RELIABILITY\.md/.test(claim),
      `a claim without a test: ${claim.slice(0, 100)}`,
    );
    for (const { file, names } of refs) {
      const source = squash(await Deno.readTextFile(`${ROOT}${file}`));
      for (const name of names) {
        assert(source.includes(squash(name)), `${file} has no test named "${name}"`);
      }
    }
  }
});
