/**
 * Start-up as systemd and compose run it: the database URL only in a credential file
 * (`DATABASE_URL_FILE`, what `sluice systemd` units set), and output that is JSON lines only,
 * for every role, also when the role cannot start (`jq -c .` over the whole log succeeds).
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { generateToken } from "../../src/auth/tokens.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { freePort, isolatedEnv } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dec = new TextDecoder();

/** Only what a systemd unit gives: no DATABASE_URL in the environment. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  return isolatedEnv({
    SLUICE_WORKER_METRICS_ADDR: "off",
    SLUICE_POLL: "200ms",
    SLUICE_MAINTENANCE_INTERVAL: "500ms",
    ...extra,
  });
}

async function run(args: string[], env: Record<string, string>, cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    cwd,
    env: baseEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Every line of a log as JSON, failing with the first line that is not one object. */
function jsonLines(text: string, what: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l !== "").map((line) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new Error(`${what}: not a JSON line: ${line}\n--- whole output:\n${text}`);
    }
    assert(v !== null && typeof v === "object" && !Array.isArray(v), `${what}: ${line}`);
    return v as Record<string, unknown>;
  });
}

/**
 * A long-running role until its `readyMsg` line, then `during()`, then SIGTERM; returns every
 * line of stdout and stderr.
 */
async function runRole(
  role: string,
  env: Record<string, string>,
  cwd: string,
  readyMsg: string,
  during: (ready: Record<string, unknown>) => Promise<void> = async () => {},
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, role],
    cwd,
    env: baseEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  let resolveReady!: (line: Record<string, unknown> | null) => void;
  const ready = new Promise<Record<string, unknown> | null>((r) => (resolveReady = r));
  const readOut = (async () => {
    for await (const chunk of child.stdout) {
      stdout += dec.decode(chunk, { stream: true });
      for (const line of stdout.split("\n").slice(0, -1)) {
        try {
          const o = JSON.parse(line);
          if (o.msg === readyMsg) resolveReady(o);
        } catch { /* judged below, over the whole output */ }
      }
    }
  })();
  const readErr = (async () => {
    for await (const chunk of child.stderr) stderr += dec.decode(chunk, { stream: true });
  })();
  const status = child.status.then((s) => (resolveReady(null), s));
  const line = await ready;
  assert(line, `${role} exited before '${readyMsg}':\n${stdout}\n${stderr}`);
  try {
    await during(line);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  const { code } = await status;
  await Promise.all([readOut, readErr]);
  return { code, stdout, stderr, ready: line };
}

/** A request with a chunked body: the path that used to copy request.signal (Deno warned). */
async function chunkedPost(url: string, token: string): Promise<number> {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"queue":"default",'));
      c.enqueue(new TextEncoder().encode('"kind":"sluice.noop"}'));
      c.close();
    },
  });
  const r = await fetch(`${url}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
  });
  await r.body?.cancel();
  return r.status;
}

Deno.test("every database command works with only DATABASE_URL_FILE set", async (t) => {
  await withTestDatabase(async (db) => {
    await withTestDatabase(async (target) => {
      const dir = await Deno.makeTempDir({ prefix: "sluice-url-file-" });
      const urlFile = `${dir}/database_url`;
      const targetFile = `${dir}/target_url`;
      // Trailing newline, as `systemd-creds` and editors leave one.
      await Deno.writeTextFile(urlFile, `${db.url}\n`);
      await Deno.writeTextFile(targetFile, `${target.url}\n`);
      // The data dir has no embedded cluster: a command that ignored the file would fail with
      // EMBEDDED_PG_NOT_RUNNING.
      const env = { DATABASE_URL_FILE: urlFile, SLUICE_DATA_DIR: `${dir}/no-cluster` };
      const ok = async (args: string[], e = env) => {
        const r = await run(args, e, dir);
        equal(r.code, 0, `sluice ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
        return r;
      };
      try {
        await t.step("config check", async () => {
          const r = await ok(["config", "check", "--json"]);
          const row = JSON.parse(r.stdout).config.find((c: { name: string }) =>
            c.name === "DATABASE_URL"
          );
          equal(row.source, "file");
        });
        await t.step("migrate up and status", async () => {
          await ok(["migrate", "up"]);
          const status = JSON.parse((await ok(["migrate", "status", "--json"])).stdout);
          assert(
            status.every((s: { state: string }) => s.state === "applied"),
            JSON.stringify(status),
          );
        });
        await t.step("operator commands: token, queue, jobs, dlq", async () => {
          await ok(["token", "create", "--name", "ops", "--scope", "admin"]);
          await ok(["queue", "list"]);
          await ok(["jobs", "enqueue", "--queue", "default", "--kind", "sluice.noop"]);
          await ok(["jobs", "list"]);
          await ok(["dlq", "list"]);
        });
        await t.step("backup and restore", async () => {
          await ok(["backup", "--out", `${dir}/b.backup`]);
          await ok(["restore", "--in", `${dir}/b.backup`], {
            ...env,
            DATABASE_URL_FILE: targetFile,
          });
          const [{ n }] = await target.sql<
            [{ n: number }]
          >`SELECT count(*)::int AS n FROM sluice.jobs`;
          equal(n, 1);
        });
        await t.step("api, worker and maintenance start", async () => {
          const port = freePort();
          const api = await runRole(
            "api",
            { ...env, SLUICE_API_ADDR: `127.0.0.1:${port}` },
            dir,
            "api_ready",
            async (ready) => {
              equal(ready.url, `http://127.0.0.1:${port}`);
              equal((await fetch(`${ready.url}/readyz`).then((r) => r.json())).status, "ready");
            },
          );
          equal(api.code, 0, api.stdout + api.stderr);
          // The worker runs the job enqueued above: it reached the database in the file.
          const worker = await runRole("worker", env, dir, "worker_started", async () => {
            await waitFor(async () => {
              const [{ state }] = await db.sql<[{ state: string }]>`SELECT state FROM sluice.jobs`;
              return state === "succeeded";
            }, { timeoutMs: 20_000, intervalMs: 100, what: "the worker to run the job" });
          });
          equal(worker.code, 0, worker.stdout + worker.stderr);
          const maintenance = await runRole("maintenance", env, dir, "maintenance_started");
          equal(maintenance.code, 0, maintenance.stdout + maintenance.stderr);
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }, { empty: true });
});

Deno.test("every role logs JSON lines only, from start to stop and when it cannot start", async (t) => {
  await withTestDatabase(async (db) => {
    const dir = await Deno.makeTempDir({ prefix: "sluice-json-log-" });
    const token = generateToken();
    const env = {
      DATABASE_URL: db.url,
      SLUICE_LOG_FORMAT: "json",
      SLUICE_LOG_LEVEL: "info",
      SLUICE_DATA_DIR: `${dir}/data`,
    };
    try {
      await t.step("up: up_ready with the ops page, no text banner", async () => {
        const port = freePort();
        const r = await runRole(
          "up",
          { ...env, SLUICE_API_ADDR: `127.0.0.1:${port}` },
          dir,
          "up_ready",
          async (ready) => {
            equal(ready.ops_page, `http://127.0.0.1:${port}/`);
            // A first start made the admin token: the line carries it, in full, once.
            assert(String(ready.admin_token).startsWith("sluice_"), JSON.stringify(ready));
            equal(await chunkedPost(`http://127.0.0.1:${port}`, String(ready.admin_token)), 201);
          },
        );
        equal(r.code, 0);
        const lines = jsonLines(r.stdout + r.stderr, "up");
        equal(lines.filter((l) => l.admin_token !== undefined).length, 1);
        assert(lines.some((l) => l.msg === "stopped"));
      });
      await t.step("api: api_ready with the url", async () => {
        const port = freePort();
        const r = await runRole(
          "api",
          { ...env, SLUICE_API_ADDR: `127.0.0.1:${port}`, SLUICE_BOOTSTRAP_TOKEN: token },
          dir,
          "api_ready",
          async (ready) => {
            equal(ready.url, `http://127.0.0.1:${port}`);
            equal(await chunkedPost(String(ready.url), token), 201);
          },
        );
        equal(r.code, 0);
        jsonLines(r.stdout + r.stderr, "api");
      });
      await t.step("worker and maintenance", async () => {
        for (
          const [role, msg] of [["worker", "worker_started"], [
            "maintenance",
            "maintenance_started",
          ]]
        ) {
          const r = await runRole(role!, env, dir, msg!);
          equal(r.code, 0);
          jsonLines(r.stdout + r.stderr, role!);
        }
      });
      await t.step("a bad configuration: startup_failed, CONFIG_INVALID, exit 2", async () => {
        for (const role of ["up", "api", "worker", "maintenance"]) {
          const r = await run([role], { ...env, SLUICE_LOG_LEVEL: "loud" }, dir);
          equal(r.code, 2, `${role}: ${r.stdout}${r.stderr}`);
          const lines = jsonLines(r.stdout + r.stderr, role);
          const failed = lines.find((l) => l.msg === "startup_failed");
          assert(failed, `${role}: ${r.stdout}${r.stderr}`);
          deepStrictEqual(
            [failed.level, failed.role, failed.code, failed.exit_code],
            ["error", role, "CONFIG_INVALID", 2],
          );
          assert(String(failed.error).includes("SLUICE_LOG_LEVEL"), String(failed.error));
        }
      });
      await t.step("pending migrations: startup_failed, MIGRATIONS_PENDING, exit 1", async () => {
        await withTestDatabase(async (empty) => {
          for (const role of ["api", "worker", "maintenance"]) {
            const r = await run([role], {
              ...env,
              DATABASE_URL: empty.url,
              SLUICE_API_ADDR: `127.0.0.1:${freePort()}`,
            }, dir);
            equal(r.code, 1, `${role}: ${r.stdout}${r.stderr}`);
            const failed = jsonLines(r.stdout + r.stderr, role).find((l) =>
              l.msg === "startup_failed"
            );
            equal(failed?.code, "MIGRATIONS_PENDING", `${role}: ${r.stdout}${r.stderr}`);
            equal(failed?.exit_code, 1);
          }
        }, { empty: true });
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
