/**
 * How tests get their database, as a test: through `withTestDatabase` (tests/_helpers/db.ts) or
 * a fixture built on it (`withTestApi`), never a hand-written drop in a `finally`.
 * A hand-written drop is skipped when the set-up before its `try` throws, and each copy is one
 * more place to get the order of clean-ups wrong; the helper drops on every path.
 */
import { deepStrictEqual } from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "../.."));

/** Built from parts so this file does not match itself. */
const HAND_WRITTEN = [
  { what: "a hand-written drop", re: new RegExp(["\\.", "drop\\(\\)"].join("")) },
  { what: "a database without its helper", re: new RegExp(["create", "TestDatabase\\("].join("")) },
];

async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && path !== "tests/_helpers") out.push(...await testFiles(path));
    else if (e.isFile && e.name.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

Deno.test("test files get their database from withTestDatabase, never drop one by hand", async () => {
  const offenders: string[] = [];
  for (const file of (await testFiles("tests")).sort()) {
    const lines = (await Deno.readTextFile(join(ROOT, file))).split("\n");
    lines.forEach((line, i) => {
      for (const { what, re } of HAND_WRITTEN) {
        if (re.test(line)) offenders.push(`${file}:${i + 1}: ${what}`);
      }
    });
  }
  deepStrictEqual(offenders, [], "use withTestDatabase(async (db) => …) from tests/_helpers/db.ts");
});

Deno.test("the hygiene check finds a hand-written drop", () => {
  // The patterns themselves, on the two shapes the first test must catch.
  const sample = [
    "  } finally {",
    "    await db." + "drop();",
    "  const db = await createTest" +
    "Database();",
  ];
  const found = sample.flatMap((l) =>
    HAND_WRITTEN.filter(({ re }) => re.test(l)).map((h) => h.what)
  );
  deepStrictEqual(found, ["a hand-written drop", "a database without its helper"]);
});
