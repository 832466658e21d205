/**
 * A container with systemd as PID 1, holding the Sluice build from the compose test's image, for
 * running the units `sluice systemd` writes under a real systemd.
 *
 * What this host allows (found by trying, cgroup v1, docker 28): `--privileged` is refused
 * ("unable to apply caps": the host lacks CAP_SYS_RESOURCE), so the box gets every capability
 * but that one, no seccomp/AppArmor profile and the host's cgroup tree read-write. Its entrypoint
 * makes the mount tree shared before exec'ing systemd: systemd sets a unit's credentials up in a
 * child mount namespace and moves the mount back, which needs shared propagation, and docker's
 * mounts are private (without it LoadCredential= hands the service an empty root-only directory,
 * "permission denied").
 */
import { must, type Output, run } from "./_docker.ts";

const TAG = "sluice-systemd-test:local";

export class SystemdBox {
  constructor(readonly name: string) {}

  /** Builds the box image from `sluiceImage` (a runtime or runtime-bundle build). */
  static async build(sluiceImage: string, target: string, denoImage: string): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "sluice-systemd-box-" });
    try {
      // runtime-bundle runs the bundle with deno; the wrapper keeps ExecStart= a plain path.
      const sluice = target === "runtime-bundle"
        ? [
          "COPY --from=sluice /usr/local/lib/sluice/sluice.js /usr/local/lib/sluice/sluice.js",
          `RUN printf '#!/bin/sh\\nexec /usr/bin/deno run -A --no-config ` +
          `/usr/local/lib/sluice/sluice.js "$@"\\n' >/usr/local/bin/sluice ` +
          "&& chmod 755 /usr/local/bin/sluice",
        ]
        : ["COPY --from=sluice /usr/local/bin/sluice /usr/local/bin/sluice"];
      await Deno.writeTextFile(
        `${dir}/Dockerfile`,
        [
          `FROM ${sluiceImage} AS sluice`,
          // Debian-based like the real denoland/deno image; its deno runs the bundle.
          `FROM ${denoImage}`,
          "RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv \\",
          " && rm -rf /var/lib/apt/lists/* \\",
          " && useradd --system --home /var/lib/sluice --shell /usr/sbin/nologin sluice",
          ...sluice,
          'ENTRYPOINT ["/bin/sh", "-c", "mount --make-rshared / && exec /lib/systemd/systemd"]',
          "",
        ].join("\n"),
      );
      await must("docker", ["build", "-q", "-t", TAG, dir], { env: { DOCKER_BUILDKIT: "0" } });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  async start(network: string): Promise<void> {
    await must("docker", [
      "run",
      "-d",
      "--name",
      this.name,
      "--network",
      network,
      "--cap-add",
      "ALL",
      "--cap-drop",
      "SYS_RESOURCE",
      "--security-opt",
      "seccomp=unconfined",
      "--security-opt",
      "apparmor=unconfined",
      "--tmpfs",
      "/run:exec",
      "--tmpfs",
      "/run/lock",
      "-v",
      "/sys/fs/cgroup:/sys/fs/cgroup:rw",
      TAG,
    ]);
  }

  exec(args: string[], opts: { env?: Record<string, string>; check?: boolean } = {}) {
    const env = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    return (opts.check === false ? run : must)("docker", ["exec", ...env, this.name, ...args]);
  }

  sh(script: string): Promise<Output> {
    return this.exec(["sh", "-ec", script]);
  }

  async writeFile(path: string, text: string, mode: string): Promise<void> {
    await must("docker", [
      "exec",
      "-i",
      this.name,
      "sh",
      "-ec",
      `mkdir -p "$(dirname ${path})"; cat >${path}; chmod ${mode} ${path}`,
    ], { stdin: new TextEncoder().encode(text) });
  }

  /** `systemctl show` properties of one unit. */
  async show(unit: string, props: string[]): Promise<Record<string, string>> {
    const out = await this.exec(["systemctl", "show", unit, ...props.flatMap((p) => ["-p", p])]);
    return Object.fromEntries(
      out.stdout.trim().split("\n").map((
        l,
      ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  }

  async journal(unit: string, lines = 20): Promise<string> {
    const out = await this.exec([
      "journalctl",
      "-u",
      unit,
      "-o",
      "cat",
      "--no-pager",
      "-n",
      String(lines),
    ], {
      check: false,
    });
    return out.stdout;
  }

  async remove(): Promise<void> {
    await run("docker", ["rm", "-fv", this.name]);
  }
}
