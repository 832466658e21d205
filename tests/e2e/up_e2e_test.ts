import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isolatedEnv } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Environment for a child sluice: nothing inherited (no SLUICE_ vars, no DATABASE_URL), so it uses the embedded DB. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  return isolatedEnv({ SLUICE_API_ADDR: "off", SLUICE_WORKER_METRICS_ADDR: "off", ...extra });
}

async function sluice(cwd: string, program: string[], args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...program, ...args],
    cwd,
    env: childEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function postgresProcessesUnder(dir: string): Promise<string[]> {
  const out = await new Deno.Command("pgrep", { args: ["-af", "postgres"], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.includes(dir));
}

/**
 * The README's first-run story: `sluice up` with nothing configured starts an embedded
 * PostgreSQL, a second shell enqueues and sees the job succeed, Ctrl-C stops everything.
 */
async function upStory(program: string[], cwd: string) {
  const up = new Deno.Command(Deno.execPath(), {
    args: [...program, "up"],
    cwd,
    env: childEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const drain = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of up.stderr) stderr.push(decoder.decode(chunk));
  })();
  const out: string[] = [];
  const stdout = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of up.stdout) out.push(decoder.decode(chunk, { stream: true }));
  })();
  try {
    const t0 = Date.now();
    let exited = false;
    up.status.then(() => (exited = true));
    // No terminal here: no text banner, the `up_ready` log line says where everything is.
    const ready = await waitFor(() => {
      if (exited) throw new Error(`sluice up exited early: ${stderr.join("")}${out.join("")}`);
      return out.join("").split("\n").find((l) => l.includes('"msg":"up_ready"'));
    }, { timeoutMs: 30_000, what: "sluice up's up_ready line" });
    const line = JSON.parse(ready);
    assert(String(line.database).startsWith("embedded PostgreSQL in "), ready);
    equal(line.ops_page, null, "SLUICE_API_ADDR=off: no ops page");
    console.log(`sluice up ready after ${Date.now() - t0} ms`);

    const second = await sluice(cwd, program, ["up"]);
    equal(second.code, 1, "a second `up` on the same data dir is refused");
    // Roles report start-up failures as a log line, not text.
    const failed = JSON.parse(second.stdout.trim().split("\n").at(-1)!);
    deepStrictEqual([failed.msg, failed.code, failed.exit_code], [
      "startup_failed",
      "EMBEDDED_PG_RUNNING",
      1,
    ]);

    const enq = await sluice(cwd, program, [
      "jobs",
      "enqueue",
      "--queue",
      "default",
      "--kind",
      "sluice.noop",
      "--json",
    ]);
    equal(enq.code, 0, enq.stderr);
    const id = JSON.parse(enq.stdout).job.id as string;
    await waitFor(async () => {
      const got = await sluice(cwd, program, ["jobs", "get", id, "--json"]);
      return got.code === 0 && JSON.parse(got.stdout).job.state === "succeeded";
    }, { timeoutMs: 15_000, what: `job ${id} to succeed` });
  } finally {
    try {
      up.kill("SIGINT");
    } catch { /* it already exited; its status says how */ }
    const status = await up.status;
    await drain;
    await stdout;
    equal(status.code, 0, `sluice up exited ${status.code}: ${stderr.join("")}`);
    const log = out.join("") + stderr.join("");
    for (const l of log.split("\n").filter(Boolean)) {
      equal(typeof JSON.parse(l), "object", `not a JSON line: ${l}`);
    }
  }
  deepEmpty(await postgresProcessesUnder(cwd));
}

/** As root the embedded cluster runs as `postgres`, which must be able to enter the directory. */
async function workDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o755);
  return dir;
}

function deepEmpty(lines: string[]) {
  equal(lines.length, 0, `postgres processes left behind:\n${lines.join("\n")}`);
}

Deno.test("sluice up runs with an embedded PostgreSQL; a second shell's job succeeds; Ctrl-C stops all", async () => {
  const cwd = await workDir("sluice-up-");
  try {
    await upStory(["run", "-A", `${ROOT}main.ts`], cwd);
    const again = await sluice(cwd, ["run", "-A", `${ROOT}main.ts`], ["jobs", "list"]);
    equal(again.code, 1, "with no `sluice up` running, operator commands say so");
    assert(again.stderr.includes("EMBEDDED_PG_NOT_RUNNING"), again.stderr);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("dist/sluice.js copied alone into an empty directory runs up, migrates and processes a job", async () => {
  const bundle = await new Deno.Command(Deno.execPath(), {
    args: ["task", "bundle"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(bundle.code, 0, new TextDecoder().decode(bundle.stderr));
  const cwd = await workDir("sluice-bundle-");
  try {
    await Deno.copyFile(`${ROOT}dist/sluice.js`, `${cwd}/sluice.js`);
    await upStory(["run", "-A", "--no-config", "sluice.js"], cwd);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
