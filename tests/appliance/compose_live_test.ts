/**
 * compose.yaml and the Dockerfile, run for real: builds the image, brings the stack up, and
 * checks what a user of `docker compose` relies on — start order (migrate exits 0 before the
 * roles start), the stamped commit, enqueue from the host, `--scale worker=3`, a SIGKILLed
 * worker container's jobs recovered on another, `down` + `up` keeping the data, and a backup
 * taken inside the stack restored into a scratch database (also with --force-replace, which
 * must not hand out ids again).
 *
 * Runs when a docker daemon and compose v2 answer (`.ci/run` sets them up with
 * ../shared/tools/docker-offline-images.sh); otherwise the test is ignored with the reason in
 * its name. `deno task test:compose` runs this file alone. Isolation: its own project name
 * (`sluice-test-<random>`), env file, API port and image tag (`sluice-compose-test:local`, kept
 * between runs as the build cache); every container, network and volume it made is removed at
 * the end, also on failure. It never starts or stops dockerd.
 *
 * Knobs: BUILD_TARGET (default runtime-bundle: `deno compile` needs Deno's release host, which
 * CI does not reach), POSTGRES_IMAGE (default postgres:16), SLUICE_COMPOSE.
 */
import { equal, ok as assert } from "node:assert/strict";
import { waitFor } from "../_helpers/wait.ts";
import { dockerGate, must, run } from "./_docker.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const IMAGE = "sluice-compose-test:local";
const BUILD_TARGET = Deno.env.get("BUILD_TARGET") || "runtime-bundle";
const POSTGRES_IMAGE = Deno.env.get("POSTGRES_IMAGE") || "postgres:16";
const LEASE_MS = 3_000;

/** The Dockerfile's base images (FROM lines that name no earlier stage) and the db's. */
async function baseImages(): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const stages = new Set<string>();
  const bases: string[] = [];
  for (const m of text.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)) {
    if (!stages.has(m[1]!) && !bases.includes(m[1]!)) bases.push(m[1]!);
    if (m[2]) stages.add(m[2]);
  }
  return [...bases, POSTGRES_IMAGE];
}

function hex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface Job {
  id: string;
  state: string;
  attempt: number;
  workerId: string | null;
}

interface ContainerState {
  service: string;
  id: string;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  running: boolean;
}

class Stack {
  readonly project = `sluice-test-${hex(4)}`;
  readonly port = freePort();
  readonly password = hex(16);
  readonly token = `sluice_${hex(24)}`;
  readonly base: string;
  dir = "";
  envFile = "";

  constructor(readonly compose: string[], readonly commit: string) {
    this.base = `http://127.0.0.1:${this.port}`;
  }

  async init() {
    this.dir = await Deno.makeTempDir({ prefix: "sluice-compose-test-" });
    this.envFile = `${this.dir}/test.env`;
    // Short leases and passes keep the kill-and-recover step to seconds.
    await Deno.writeTextFile(
      this.envFile,
      [
        "POSTGRES_USER=sluice",
        `POSTGRES_PASSWORD=${this.password}`,
        "POSTGRES_DB=sluice",
        `SLUICE_BOOTSTRAP_TOKEN=${this.token}`,
        `SLUICE_SIGNING_SECRETS=${hex(32)}`,
        "SLUICE_CONCURRENCY=2",
        `SLUICE_LEASE=${LEASE_MS}ms`,
        "SLUICE_POLL=500ms",
        "SLUICE_MAINTENANCE_INTERVAL=500ms",
        "SLUICE_SHUTDOWN_GRACE=5s",
        "SLUICE_LOG_LEVEL=info",
        "",
      ].join("\n"),
    );
  }

  /** The compose command for this project; the env file also drives interpolation. */
  cmd(args: string[], opts: { stdin?: Uint8Array; check?: boolean } = {}) {
    const f = opts.check === false ? run : must;
    return f(this.compose[0]!, [
      ...this.compose.slice(1),
      "-p",
      this.project,
      "-f",
      `${ROOT}compose.yaml`,
      "--env-file",
      this.envFile,
      ...args,
    ], {
      stdin: opts.stdin,
      env: {
        IMAGE,
        BUILD_TARGET,
        POSTGRES_IMAGE,
        SLUICE_COMMIT: this.commit,
        SLUICE_ENV_FILE: this.envFile,
        API_PORT: String(this.port),
        // No buildx here; BuildKit would also pull images nothing needs.
        DOCKER_BUILDKIT: "0",
        COMPOSE_DOCKER_CLI_BUILD: "0",
      },
    });
  }

  dbUrl(database: string): string {
    return `postgres://sluice:${this.password}@db:5432/${database}`;
  }

  /** A one-off `sluice` command in the stack (the migrate service's image and network). */
  sluice(args: string[], opts: { database?: string; stdin?: Uint8Array } = {}) {
    const env = opts.database ? ["-e", `DATABASE_URL=${this.dbUrl(opts.database)}`] : [];
    return this.cmd(["run", "--rm", "-T", ...env, "migrate", ...args], { stdin: opts.stdin });
  }

  async psql(database: string, query: string): Promise<string> {
    const out = await this.cmd([
      "exec",
      "-T",
      "db",
      "psql",
      "-U",
      "sluice",
      "-d",
      database,
      "-Atc",
      query,
    ]);
    return out.stdout.trim();
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.api<T>(method, path, body);
    assert(
      r.status >= 200 && r.status < 300,
      `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`,
    );
    return r.body;
  }

  async ready(timeoutMs = 60_000) {
    await waitFor(async () => {
      try {
        const res = await fetch(`${this.base}/readyz`);
        await res.body?.cancel();
        return res.status === 200;
      } catch {
        return false; // not listening yet
      }
    }, { what: `${this.base}/readyz`, timeoutMs, intervalMs: 250 });
  }

  async containers(): Promise<ContainerState[]> {
    const ids = (await must("docker", [
      "ps",
      "-aq",
      "--filter",
      `label=com.docker.compose.project=${this.project}`,
    ])).stdout.split("\n").filter(Boolean);
    if (ids.length === 0) return [];
    const info = JSON.parse((await must("docker", ["inspect", ...ids])).stdout) as {
      Id: string;
      Config: { Labels: Record<string, string> };
      State: { StartedAt: string; FinishedAt: string; ExitCode: number; Running: boolean };
    }[];
    return info.map((c) => ({
      service: c.Config.Labels["com.docker.compose.service"] ?? "",
      id: c.Id,
      startedAt: Date.parse(c.State.StartedAt),
      finishedAt: Date.parse(c.State.FinishedAt),
      exitCode: c.State.ExitCode,
      running: c.State.Running,
    }));
  }

  async job(id: string): Promise<Job> {
    return (await this.ok<{ job: Job }>("GET", `/v1/jobs/${id}`)).job;
  }

  async jobsIn(state: string): Promise<Job[]> {
    return (await this.ok<{ jobs: Job[] }>(
      "GET",
      `/v1/jobs?queue=compose&state=${state}&limit=100`,
    ))
      .jobs;
  }

  /** Containers, volumes and networks of this project still present (none after destroy). */
  async leftovers(): Promise<string[]> {
    const filter = `label=com.docker.compose.project=${this.project}`;
    const list = async (args: string[]) =>
      (await run("docker", [...args, "--filter", filter])).stdout.split("\n").filter(Boolean);
    return [
      ...await list(["ps", "-aq"]),
      ...await list(["volume", "ls", "-q"]),
      ...await list(["network", "ls", "-q"]),
    ];
  }

  /** Removes everything this project created; the image stays (it is the build cache). */
  async destroy() {
    await this.cmd(["down", "-v", "--remove-orphans", "--timeout", "5"], { check: false });
    if (this.dir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

async function gitCommit(): Promise<string> {
  const out = await run("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT });
  return out.code === 0 ? out.stdout.trim() : "compose-test";
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${what} printed no JSON: ${text.slice(0, 500)}`);
  }
}

const gate = await dockerGate(await baseImages());
const NAME = "compose stack for real: order, scale, worker kill, down/up, backup → restore";

if ("skip" in gate && Deno.env.get("SLUICE_COMPOSE_TEST") === "1") {
  // `deno task test:compose` asked for this test: not being able to run it is a failure.
  Deno.test(`${NAME} (cannot run: ${gate.skip})`, () => {
    throw new Error(`SLUICE_COMPOSE_TEST=1 but ${gate.skip}`);
  });
} else if ("skip" in gate) {
  console.log(`compose_live_test skipped: ${gate.skip}`);
  Deno.test({ name: `${NAME} (skipped: ${gate.skip})`, ignore: true, fn() {} });
} else {
  Deno.test({ name: NAME, sanitizeOps: false, sanitizeResources: false }, async (t) => {
    console.log(`compose: ${gate.compose.join(" ")}; base images: ${gate.images.join(", ")}`);
    const stack = new Stack(gate.compose, await gitCommit());
    const step = async (name: string, fn: () => Promise<void>) => {
      const t0 = performance.now();
      const passed = await t.step(name, fn);
      console.log(`  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (!passed) throw new Error(`step failed: ${name}`);
    };
    let left: string[] = [];
    try {
      await stack.init();

      await step(`build (target ${BUILD_TARGET}, commit ${stack.commit})`, async () => {
        await stack.cmd(["build", "migrate"]);
      });

      await step("up: migrate exits 0 before api, worker and maintenance start", async () => {
        await stack.cmd(["up", "-d"]);
        await stack.ready();
        const cs = await stack.containers();
        const migrate = cs.find((c) => c.service === "migrate");
        assert(migrate && !migrate.running, "migrate ran once and exited");
        equal(migrate.exitCode, 0);
        for (const role of ["api", "worker", "maintenance"]) {
          const c = cs.find((x) => x.service === role);
          assert(c?.running, `${role} runs`);
          assert(c.startedAt >= migrate.finishedAt, `${role} started after migrate finished`);
        }
        const health = await (await fetch(`${stack.base}/healthz`)).json();
        equal(health.commit, stack.commit, "the build arg reached the image");
      });

      const noop: string[] = [];
      await step("enqueue from the host; the worker runs the jobs", async () => {
        await stack.ok("POST", "/v1/queues", { name: "compose" });
        const r = await stack.ok<{ results: { job: Job }[] }>("POST", "/v1/jobs/batch", {
          jobs: Array.from({ length: 10 }, () => ({ queue: "compose", kind: "sluice.noop" })),
        });
        noop.push(...r.results.map((x) => x.job.id));
        equal(noop.length, 10);
        await waitFor(async () => (await stack.jobsIn("succeeded")).length === 10, {
          what: "10 succeeded jobs",
          timeoutMs: 30_000,
          intervalMs: 250,
        });
      });

      await step(
        "scale worker=3, SIGKILL one mid-job: its jobs are recovered on another",
        async () => {
          await stack.cmd(["up", "-d", "--scale", "worker=3", "--no-recreate"]);
          type W = { id: string; host: string; state: string; runningJobIds: string[] };
          const online = async () =>
            (await stack.ok<{ workers: W[] }>("GET", "/v1/workers")).workers.filter((w) =>
              w.state === "online"
            );
          await waitFor(async () => (await online()).length === 3, {
            what: "3 online workers",
            timeoutMs: 60_000,
            intervalMs: 250,
          });
          const r = await stack.ok<{ results: { job: Job }[] }>("POST", "/v1/jobs/batch", {
            jobs: Array.from({ length: 6 }, () => ({
              queue: "compose",
              kind: "sluice.sleep",
              payload: { ms: 5_000 },
            })),
          });
          const sleepers = r.results.map((x) => x.job.id);
          const victim = await waitFor(async () => {
            const ws = await online();
            const busy = ws.find((w) => w.runningJobIds.length > 0);
            return busy && (await stack.jobsIn("running")).length === sleepers.length ? busy : null;
          }, { what: "the sleep jobs to run", timeoutMs: 30_000, intervalMs: 100 });
          // A container's hostname is its short id, and the worker id is <hostname>-<pid>.
          const workers = (await stack.containers()).filter((c) => c.service === "worker");
          const container = workers.find((c) => c.id.startsWith(victim.host));
          assert(container, `worker ${victim.id} is one of this project's containers`);
          await must("docker", ["kill", "--signal", "KILL", container.id]);
          for (const id of victim.runningJobIds) {
            const j = await waitFor(async () => {
              const job = await stack.job(id);
              return job.state === "succeeded" ? job : null;
            }, { what: `job ${id} recovered`, timeoutMs: LEASE_MS + 30_000, intervalMs: 250 });
            assert(j.attempt >= 2, `job ${id} ran again (attempt ${j.attempt})`);
            assert(j.workerId !== victim.id, `job ${id} finished on another worker`);
            const tl = await stack.ok<{ timeline: { event: string }[] }>(
              "GET",
              `/v1/jobs/${id}/timeline`,
            );
            assert(tl.timeline.some((e) => e.event === "lease_expired"), JSON.stringify(tl));
          }
          // `docker kill` counts as a manual stop: the restart policy leaves it down.
          const after = (await stack.containers()).find((c) => c.id === container.id);
          assert(after && !after.running, "the killed container stays down");
        },
      );

      await step("down + up keeps the data (volume pgdata)", async () => {
        const before = await stack.psql("sluice", "SELECT count(*) FROM sluice.jobs");
        await stack.cmd(["down", "--timeout", "20"]);
        equal((await stack.containers()).length, 0, "down removed the containers");
        await stack.cmd(["up", "-d"]);
        await stack.ready();
        equal(await stack.psql("sluice", "SELECT count(*) FROM sluice.jobs"), before);
        for (const id of noop) equal((await stack.job(id)).state, "succeeded", id);
      });

      await step("backup inside the stack, restore into a scratch database", async () => {
        const archive = (await stack.sluice(["backup", "--out", "-"])).bytes;
        assert(archive[0] === 0x1f && archive[1] === 0x8b, "a gzip archive on stdout");
        await stack.cmd(["exec", "-T", "db", "createdb", "-U", "sluice", "sluice_scratch"]);
        const restored = parseJson<{ ok: boolean }>(
          (await stack.sluice(["restore", "--in", "-", "--json"], {
            database: "sluice_scratch",
            stdin: archive,
          })).stdout,
          "restore --json",
        );
        equal(restored.ok, true);
        const counts = "SELECT count(*) || ' ' || max(id) FROM sluice.jobs";
        equal(await stack.psql("sluice_scratch", counts), await stack.psql("sluice", counts));

        // Ids handed out after a restore must never come back after a --force-replace of the
        // same archive (callbacks and clients hold them).
        const enqueue = async () =>
          BigInt(
            parseJson<{ job: Job }>(
              (await stack.sluice(
                ["jobs", "enqueue", "--queue", "compose", "--kind", "sluice.noop", "--json"],
                { database: "sluice_scratch" },
              )).stdout,
              "jobs enqueue --json",
            ).job.id,
          );
        const first = await enqueue();
        await stack.sluice(["restore", "--in", "-", "--force-replace", "--json"], {
          database: "sluice_scratch",
          stdin: archive,
        });
        const second = await enqueue();
        assert(second > first, `id ${second} after --force-replace reuses ${first} or less`);
      });
    } finally {
      const t0 = performance.now();
      await stack.destroy();
      left = await stack.leftovers();
      console.log(`  teardown: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (left.length > 0) console.error(`left behind by ${stack.project}: ${left.join(" ")}`);
    }
    // Reached only when every step passed, so it never hides the first error.
    equal(left.length, 0, `left behind by ${stack.project}: ${left.join(" ")}`);
  });
}
