/**
 * `deno task compile`: standalone executables, stamped like the bundle.
 *
 *   deno run -A scripts/compile.ts [--target TRIPLE]... [--out DIR]
 *
 * Bundles main.ts into one stamped file (scripts/_build.ts), then `deno compile`s that file
 * once per target (default: this machine's), naming each `sluice-<target>` (plain `sluice`
 * without --target), and writes `SHA256SUMS` beside them. `deno compile` downloads the Deno
 * runtime for each target from Deno's release host: it works in CI and on machines that
 * reach it, not on hosts limited to package registries.
 *
 * Compiling the stamped bundle rather than main.ts is what carries the stamp: the compiled
 * program embeds exactly the text that was stamped, and no source file is ever modified.
 */
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { bundleStamped } from "./_build.ts";

const { values } = parseArgs({
  options: {
    target: { type: "string", multiple: true },
    out: { type: "string", default: "dist" },
  },
});
const outDir = values.out!;
const bundle = `${outDir}/sluice.js`;
const { commit, builtAt } = await bundleStamped(bundle);
console.log(`bundled ${bundle} (commit ${commit}, built ${builtAt})`);

const targets: (string | null)[] = values.target?.length ? values.target : [null];
const built: string[] = [];
for (const target of targets) {
  const output = `${outDir}/${target ? `sluice-${target}` : "sluice"}`;
  const args = [
    "compile",
    "-A",
    "--no-config",
    ...(target ? ["--target", target] : []),
    "--output",
    output,
    bundle,
  ];
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).output();
  if (!r.success) {
    console.error(`error: deno ${args.join(" ")} failed (exit ${r.code})`);
    Deno.exit(r.code || 1);
  }
  // Windows targets get `.exe`; every target we ship is Unix, but do not assume.
  const file = await Deno.stat(`${output}.exe`).then(() => `${output}.exe`, () => output);
  built.push(file);
  console.log(`compiled ${file}`);
}

const sums = [];
built.push(bundle);
for (const file of built) {
  const hash = createHash("sha256");
  for await (const chunk of (await Deno.open(file)).readable) hash.update(chunk);
  sums.push(`${hash.digest("hex")}  ${basename(file)}`);
}
await Deno.writeTextFile(`${outDir}/SHA256SUMS`, sums.join("\n") + "\n");
console.log(`wrote ${outDir}/SHA256SUMS`);
