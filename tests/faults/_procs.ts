/**
 * Real `sluice` processes for the fault suite: spawned from main.ts with a clean environment,
 * their JSON-lines logs collected so a test can wait for an event instead of sleeping.
 */
import { waitFor } from "../_helpers/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Bigger runs: `SLUICE_FAULTS_FULL=1 deno task test:faults`. */
export const FULL = Deno.env.get("SLUICE_FAULTS_FULL") === "1";

/** The fast timings every process of the suite runs with (lease 1 s, poll 200 ms). */
export const FAST_ENV: Record<string, string> = {
  SLUICE_LEASE: "1s",
  SLUICE_POLL: "200ms",
  SLUICE_MAINTENANCE_INTERVAL: "200ms",
  SLUICE_API_ADDR: "off",
  SLUICE_WORKER_METRICS_ADDR: "off",
  SLUICE_SHUTDOWN_GRACE: "5s",
  SLUICE_LOG_LEVEL: "debug",
};
export const LEASE_MS = 1_000;
export const REAPER_MS = 200;

export interface LogLine {
  ts?: string;
  level?: string;
  msg?: string;
  [k: string]: unknown;
}

export class SluiceProcess {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly lines: LogLine[] = [];
  /** Receipt time (ms since epoch) of every line, same index as `lines`. */
  readonly receivedAt: number[] = [];
  readonly stderr: string[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(name: string, args: string[], env: Record<string, string>) {
    this.name = name;
    const base: Record<string, string> = { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" };
    for (const k of ["HOME", "DENO_DIR"]) {
      const v = Deno.env.get(k);
      if (v !== undefined) base[k] = v;
    }
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "main.ts", ...args],
      cwd: ROOT,
      env: { ...base, ...FAST_ENV, SLUICE_WORKER_ID: name, ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    void this.#read(this.child.stdout, (l) => {
      try {
        this.lines.push(JSON.parse(l));
      } catch {
        this.lines.push({ msg: "(text)", text: l });
      }
      this.receivedAt.push(Date.now());
    });
    void this.#read(this.child.stderr, (l) => this.stderr.push(l));
    this.status = this.child.status.then((s) => {
      this.#exited = true;
      return s;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  async #read(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void): Promise<void> {
    let buf = "";
    // A TextDecoder rather than TextDecoderStream: the DOM typings some test files load disagree
    // with Deno's on the latter's types.
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      buf += decoder.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onLine(line);
      }
    }
    if (buf.trim()) onLine(buf);
  }

  count(msg: string, since = 0): number {
    return this.lines.filter((l, i) => l.msg === msg && this.receivedAt[i]! >= since).length;
  }

  /** Waits for a log line with `msg` (and optional predicate) after index `from`. */
  async waitLog(
    msg: string,
    { timeoutMs = 20_000, from = 0, where = () => true }: {
      timeoutMs?: number;
      from?: number;
      where?: (l: LogLine) => boolean;
    } = {},
  ): Promise<LogLine> {
    return await waitFor(() => {
      if (this.#exited && !this.lines.slice(from).some((l) => l.msg === msg && where(l))) {
        throw new Error(`${this.name} exited before logging '${msg}':\n${this.dump()}`);
      }
      return this.lines.slice(from).find((l) => l.msg === msg && where(l)) ?? null;
    }, { timeoutMs, what: `${this.name} to log '${msg}'`, intervalMs: 25 });
  }

  signal(sig: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.child.kill(sig);
    } catch { /* already gone */ }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<Deno.CommandStatus> {
    this.signal("SIGCONT");
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.status;
    } finally {
      clearTimeout(timer);
    }
  }

  dump(): string {
    return [
      ...this.lines.slice(-40).map((l) => JSON.stringify(l)),
      ...this.stderr.slice(-20),
    ].join("\n");
  }
}

/** `sluice worker` (or `up`) against the database at `url`. */
export function spawnSluice(
  name: string,
  role: "worker" | "up",
  url: string,
  env: Record<string, string> = {},
  args: string[] = [],
): SluiceProcess {
  return new SluiceProcess(name, [role, ...args], { DATABASE_URL: url, ...env });
}

/** Waits until the process has registered and leases (its `worker_started` line). */
export async function started(p: SluiceProcess, timeoutMs = 30_000): Promise<void> {
  await p.waitLog("worker_started", { timeoutMs });
}

/** Waits until the api at `base` answers `/readyz` with 200. */
export async function apiReady(base: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => {
    try {
      return (await fetch(`${base}/readyz`)).ok;
    } catch {
      return false;
    }
  }, { timeoutMs, intervalMs: 100, what: "the api to be ready" });
}

/** Stops every process, also after a failed assertion; never leaves children behind. */
export async function stopAll(procs: SluiceProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop().catch(() => {})));
}

/** A temp file for an exec ledger; removed by the caller. */
export async function tempExecFile(): Promise<string> {
  return await Deno.makeTempFile({ dir: "/tmp", prefix: "sluice-exec-" });
}
