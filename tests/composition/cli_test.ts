import { deepStrictEqual, equal, match } from "node:assert/strict";
import { withTestDatabase } from "../_helpers/db.ts";
import { isolatedEnv } from "../_helpers/sluice_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function sluice(args: string[], env: Record<string, string>, stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "main.ts", ...args],
    cwd: ROOT,
    env: isolatedEnv(env),
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const d = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: d(out.stdout), stderr: d(out.stderr) };
}

Deno.test("sluice jobs enqueue --depends-on, sluice workflow and sluice batch work end to end", async (t) => {
  await withTestDatabase(async (db) => {
    const env = { DATABASE_URL: db.url };
    await t.step(
      "jobs enqueue --depends-on blocks the child; explain names the parent",
      async () => {
        const p = await sluice(["jobs", "enqueue", "--kind", "p", "--json"], env);
        equal(p.code, 0, p.stderr);
        const parent = JSON.parse(p.stdout).job.id;
        const c = await sluice(
          ["jobs", "enqueue", "--kind", "c", "--depends-on", parent, "--on-parent-failure", "wait"],
          env,
        );
        equal(c.code, 0, c.stderr);
        match(c.stdout, /enqueued job (\d+) \(blocked, queue default\)/);
        const id = /job (\d+)/.exec(c.stdout)![1]!;
        const ex = await sluice(["jobs", "explain", id], env);
        match(
          ex.stdout,
          new RegExp(`WAITING_FOR_PARENTS: Job ${id} is waiting for 1 of 1 parents: ${parent}`),
        );
        const bad = await sluice(["jobs", "enqueue", "--kind", "c", "--depends-on", "99999"], env);
        equal(bad.code, 1);
        match(bad.stderr, /PARENT_NOT_FOUND/);
      },
    );
    await t.step("workflow create --file - / get / list / cancel", async () => {
      const spec = JSON.stringify({
        name: "cli-flow",
        jobs: [{ key: "a", kind: "a" }, { key: "b", kind: "b", dependsOn: ["a"] }],
      });
      const created = await sluice(["workflow", "create", "--file", "-", "--json"], env, spec);
      equal(created.code, 0, created.stderr);
      const wf = JSON.parse(created.stdout).workflow;
      deepStrictEqual(wf.nodes.map((n: { state: string }) => n.state), ["available", "blocked"]);
      const got = await sluice(["workflow", "get", wf.id], env);
      match(got.stdout, /workflow \d+ 'cli-flow': running/);
      const list = await sluice(["workflow", "list", "--state", "running"], env);
      match(list.stdout, /cli-flow/);
      const cancelled = await sluice(["workflow", "cancel", wf.id], env);
      match(cancelled.stdout, /: cancelled/);
    });
    await t.step("batch create / get shows a progress bar; close settles", async () => {
      const spec = JSON.stringify({
        jobs: [{ kind: "x" }],
        onComplete: { kind: "done" },
        open: true,
      });
      const created = await sluice(["batch", "create", "--file", "-", "--json"], env, spec);
      equal(created.code, 0, created.stderr);
      const b = JSON.parse(created.stdout).batch;
      equal(b.state, "open");
      const got = await sluice(["batch", "get", b.id], env);
      match(got.stdout, /open \[\.{20}\] 0%/);
      const closed = await sluice(["batch", "close", b.id], env);
      match(closed.stdout, /running/);
    });
  });
});
