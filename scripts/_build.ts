/**
 * Shared by `deno task bundle` and `deno task compile`: writes one stamped JavaScript file.
 * Migrations and the ops page are text imports, so they are inside the bundle. The commit and
 * build time replace src/version.ts's `@@SLUICE_…@@` markers (`replaceAll`: inlined copies are
 * stamped too), so `sluice version --json` identifies a release candidate.
 */
export async function bundleStamped(out: string): Promise<{ commit: string; builtAt: string }> {
  const dir = out.slice(0, out.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const bundle = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "-o", out, "main.ts"],
    stdout: "inherit",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).output();
  if (!bundle.success) throw new Error(`deno bundle failed (exit ${bundle.code})`);
  const commit = await gitCommit();
  const builtAt = new Date().toISOString();
  await Deno.writeTextFile(out, stampText(await Deno.readTextFile(out), commit, builtAt));
  return { commit, builtAt };
}

export function stampText(text: string, commit: string, builtAt: string): string {
  return text.replaceAll("@@SLUICE_COMMIT@@", commit).replaceAll("@@SLUICE_BUILT_AT@@", builtAt);
}

/** `SLUICE_COMMIT` (CI may set it), else the checkout's HEAD, else `unknown`. */
export async function gitCommit(): Promise<string> {
  const fromEnv = Deno.env.get("SLUICE_COMMIT");
  if (fromEnv) return fromEnv.slice(0, 12);
  const git = await new Deno.Command("git", {
    args: ["rev-parse", "--short=12", "HEAD"],
    stderr: "null",
  }).output().catch(() => null);
  return git?.success ? new TextDecoder().decode(git.stdout).trim() : "unknown";
}
