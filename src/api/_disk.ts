/**
 * Free space of the filesystem holding a directory. Deno 2.9 has no `statfs`, so this asks
 * POSIX `df -Pk` (portable output, 1024-byte blocks); null when that is not possible.
 */
export async function freeDiskBytes(dir: string): Promise<number | null> {
  try {
    const out = await new Deno.Command("df", {
      args: ["-Pk", dir],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    if (!out.success) return null;
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    const avail = Number(line.split(/\s+/)[3]);
    return Number.isFinite(avail) ? avail * 1024 : null;
  } catch {
    return null;
  }
}
