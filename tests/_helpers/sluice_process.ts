/**
 * A real `sluice` role process on a test database, and the browser the e2e tests and the ops
 * page benchmark drive (Debian's chromium through playwright-core; flags from TOOLCHAIN.md).
 */
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import type { TestDatabase } from "./db.ts";
import { waitFor } from "./wait.ts";
import { freePort } from "./net.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A child's whole environment: nothing inherited (no SLUICE_ vars, no DATABASE_URL) but `extra`. */
export function isolatedEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    NO_COLOR: "1",
    ...extra,
  };
}

export { freePort } from "./net.ts";

/**
 * `sluice up` (or `api`) on the test database, serving the API (and the page) on a free port.
 * `program` runs something else than main.ts (the bundle), from `cwd`.
 */
export async function startSluice(
  db: TestDatabase,
  { token, role = "up", env: extraEnv = {}, program = ["run", "-A", `${ROOT}main.ts`], cwd = ROOT }:
    {
      token: string;
      role?: "up" | "api";
      env?: Record<string, string>;
      program?: string[];
      cwd?: string;
    },
) {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [...program, role, ...(role === "up" ? ["--concurrency", "4"] : [])],
    cwd,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      NO_COLOR: "1",
      DATABASE_URL: db.url,
      SLUICE_API_ADDR: `127.0.0.1:${port}`,
      SLUICE_BOOTSTRAP_TOKEN: token,
      SLUICE_WORKER_METRICS_ADDR: "off",
      SLUICE_POLL: "200ms",
      SLUICE_MAINTENANCE_INTERVAL: "500ms",
      SLUICE_LOG_LEVEL: "warn",
      ...extraEnv,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  const decoder = new TextDecoder();
  const drains = [child.stdout, child.stderr].map(async (s) => {
    for await (const chunk of s) logs.push(decoder.decode(chunk));
  });
  let exited = false;
  child.status.then(() => (exited = true));
  await waitFor(async () => {
    if (exited) throw new Error(`sluice up exited early:\n${logs.join("")}`);
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false;
    }
  }, { timeoutMs: 30_000, intervalMs: 100, what: "sluice up to answer /healthz" });
  return {
    base,
    logs,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await Promise.all(drains);
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
}
