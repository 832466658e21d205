/**
 * Docker and compose from the live appliance tests: finding a usable daemon and compose v2, and
 * running them with captured output. Nothing here starts dockerd: `.ci/run` (or the developer)
 * does that with ../shared/tools/docker-offline-images.sh, and a test without a daemon is
 * skipped with the reason in its name.
 */

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs `cmd` to completion; never throws for a non-zero exit (the caller decides). */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: Uint8Array; cwd?: string } = {},
): Promise<Output> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    bytes: out.stdout,
  };
}

/** Like `run`, but a non-zero exit throws with the command and the tail of its output. */
export async function must(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: Uint8Array; cwd?: string } = {},
): Promise<Output> {
  const out = await run(cmd, args, opts);
  if (out.code !== 0) {
    const tail = (s: string) => s.split("\n").slice(-30).join("\n");
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}\n--- stdout\n${tail(out.stdout)}\n` +
        `--- stderr\n${tail(out.stderr)}`,
    );
  }
  return out;
}

async function answers(cmd: string, args: string[]): Promise<Output | null> {
  try {
    const out = await run(cmd, args);
    return out.code === 0 ? out : null;
  } catch {
    return null; // not installed
  }
}

/**
 * The compose v2 command as argv: SLUICE_COMPOSE (a path, or "docker compose"), else the
 * `docker compose` plugin, else the binary docker-offline-images.sh extracts. v1 is refused:
 * it rejects compose.yaml's top-level `name:`.
 */
export async function findCompose(): Promise<string[] | null> {
  const home = Deno.env.get("HOME") ?? "/root";
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`;
  const candidates = [
    ...(Deno.env.get("SLUICE_COMPOSE") ? [Deno.env.get("SLUICE_COMPOSE")!.split(" ")] : []),
    ["docker", "compose"],
    [`${cache}/sluice-docker/bin/docker-compose-v2`],
  ];
  for (const argv of candidates) {
    const v = await answers(argv[0]!, [...argv.slice(1), "version", "--short"]);
    if (v && /^v?2\./.test(v.stdout.trim())) return argv;
  }
  return null;
}

export type DockerGate = { compose: string[]; images: string[] } | { skip: string };

/**
 * Whether the live test can run here, and if not, why (for the ignored test's name). Every base
 * image must be present or pullable; each that is a local stand-in is named in `images`
 * (docker-offline-images.sh labels them org.sluice.substitute=1), so the log says what ran.
 */
export async function dockerGate(baseImages: string[]): Promise<DockerGate> {
  if (Deno.env.get("SLUICE_COMPOSE_TEST") === "0") return { skip: "SLUICE_COMPOSE_TEST=0" };
  if (!await answers("docker", ["--version"])) {
    return { skip: "no docker client on PATH" };
  }
  if (!await answers("docker", ["info", "--format", "{{.ServerVersion}}"])) {
    return {
      skip: "no docker daemon answers (start one: ../shared/tools/docker-offline-images.sh up)",
    };
  }
  const compose = await findCompose();
  if (!compose) return { skip: "no docker compose v2 (v1 rejects compose.yaml's top-level name:)" };
  const images: string[] = [];
  for (const image of baseImages) {
    let label = await answers("docker", [
      "image",
      "inspect",
      "-f",
      '{{index .Config.Labels "org.sluice.substitute"}}',
      image,
    ]);
    if (!label && await answers("docker", ["pull", "-q", image])) {
      label = await answers("docker", ["image", "inspect", "-f", "{{.Id}}", image]);
    }
    if (!label) return { skip: `base image ${image} is not present and cannot be pulled` };
    images.push(label.stdout.trim() === "1" ? `${image} (local stand-in)` : image);
  }
  return { compose, images };
}
