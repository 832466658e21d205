/**
 * `deno task bundle`: writes dist/sluice.js, one file that runs every subcommand from an empty
 * directory (`deno run -A dist/sluice.js up`). Migrations and the ops page are text imports, so
 * they are inside the bundle. The commit and build time are stamped into src/version.ts's
 * placeholders so `sluice version --json` identifies a release candidate.
 */
const out = "dist/sluice.js";
await Deno.mkdir("dist", { recursive: true });
const bundle = await new Deno.Command(Deno.execPath(), {
  args: ["bundle", "--quiet", "--platform", "deno", "-o", out, "main.ts"],
  stdout: "inherit",
  stderr: "inherit",
  env: { NO_COLOR: "1" },
}).output();
if (!bundle.success) Deno.exit(bundle.code || 1);

const git = await new Deno.Command("git", {
  args: ["rev-parse", "--short=12", "HEAD"],
  stderr: "null",
})
  .output().catch(() => null);
const commit = git?.success ? new TextDecoder().decode(git.stdout).trim() : "unknown";
const text = await Deno.readTextFile(out);
const stamped = text
  .replaceAll("@@SLUICE_COMMIT@@", commit)
  .replaceAll("@@SLUICE_BUILT_AT@@", new Date().toISOString());
await Deno.writeTextFile(out, stamped);
const size = (await Deno.stat(out)).size;
console.log(`wrote ${out} (${(size / 1024).toFixed(0)} KiB, commit ${commit})`);
