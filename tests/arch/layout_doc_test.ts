/**
 * README's Layout block names real places: each row's path exists, every top-level entry of
 * src/ has a row, and each `name.ts` a row mentions is a file of that row's folder. So the map a
 * newcomer reads cannot drift from the tree.
 */
import { deepStrictEqual } from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Rows of the ```text block under "### Layout": [path, description with continuations]. */
function layoutRows(readme: string): [string, string][] {
  const section = readme.split("\n### Layout\n")[1]?.split("\n```text\n")[1]?.split("\n```")[0];
  if (!section) throw new Error("README.md has no ### Layout block");
  const rows: [string, string][] = [];
  for (const line of section.split("\n")) {
    const m = line.match(/^(\S+)\s+(.*)$/);
    if (m) rows.push([m[1]!, m[2]!]);
    else if (rows.length > 0) rows[rows.length - 1]![1] += " " + line.trim();
  }
  return rows;
}

Deno.test("README's Layout names every top-level part of src/ and only files that exist", async () => {
  const rows = layoutRows(await Deno.readTextFile(`${ROOT}README.md`));
  const missing: string[] = [];
  for (const [path, text] of rows) {
    const base = path.replace(/<[^>]+>\/?$/, "");
    if (!existsSync(`${ROOT}${base}`)) missing.push(path);
    if (!path.endsWith("/")) continue;
    for (const m of text.matchAll(/\b([\w/]+\.ts)\b/g)) {
      const file = m[1]!.includes("/") ? m[1]! : `${base}${m[1]}`;
      if (!existsSync(`${ROOT}${file}`)) missing.push(`${path}: ${m[1]}`);
    }
  }
  deepStrictEqual(missing, []);
  const listed = new Set(rows.map(([p]) => p));
  const unlisted: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}src`)) {
    const path = `src/${e.name}${e.isDirectory ? "/" : ""}`;
    if (!listed.has(path)) unlisted.push(path);
  }
  deepStrictEqual(unlisted.sort(), []);
});
