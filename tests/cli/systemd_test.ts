import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";

const dir = await Deno.makeTempDir({ prefix: "sluice-systemd-test-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* best effort */ }
});

async function run(cmd: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `systemd-analyze verify` needs ExecStart's binary to exist: a stand-in script. */
async function fakeBinary(): Promise<string> {
  const bin = `${dir}/bin/sluice`;
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.writeTextFile(bin, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(bin, 0o755);
  return bin;
}

const UNITS = [
  "sluice-api.service",
  "sluice-maintenance.service",
  "sluice-migrate.service",
  "sluice-worker@.service",
];

Deno.test("sluice systemd writes units that systemd-analyze verify accepts", async (t) => {
  const bin = await fakeBinary();
  const out = `${dir}/units`;
  const gen = await run(Deno.execPath(), [
    "run",
    "-A",
    "main.ts",
    "systemd",
    "--out",
    out,
    "--bin",
    bin,
    "--env-file",
    "/etc/sluice/sluice.env",
  ]);
  equal(gen.code, 0, gen.stderr);
  const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  deepStrictEqual(files, UNITS);

  await t.step("every unit checks the config first and is hardened", async () => {
    for (const f of UNITS) {
      const text = await Deno.readTextFile(`${out}/${f}`);
      for (
        const line of [
          `ExecStartPre=${bin} config check --log`,
          "NoNewPrivileges=yes",
          "ProtectSystem=strict",
          "ReadWritePaths=/var/lib/sluice",
          "PrivateTmp=yes",
          "ProtectHome=yes",
          "LoadCredential=database_url:/etc/sluice/credentials/database_url",
          "Environment=DATABASE_URL_FILE=%d/database_url",
          "Environment=SLUICE_SIGNING_SECRETS_FILE=%d/sluice_signing_secrets",
          "EnvironmentFile=/etc/sluice/sluice.env",
          "User=sluice",
        ]
      ) assert(text.split("\n").includes(line), `${f} lacks '${line}'`);
      if (f === "sluice-migrate.service") {
        assert(text.includes("Type=oneshot") && text.includes(`ExecStart=${bin} migrate up`));
      } else {
        assert(text.includes("Requires=sluice-migrate.service"), f);
        assert(text.includes("After=sluice-migrate.service"), f);
        assert(text.includes("Restart=on-failure") && text.includes("RestartSec="), f);
        assert(text.includes("StartLimitBurst="), f);
      }
    }
  });

  await t.step("systemd-analyze verify passes", async () => {
    const v = await run("systemd-analyze", ["verify", "--man=no", ...UNITS], out);
    equal(v.code, 0, v.stderr);
    equal(v.stderr.trim(), "", v.stderr);
  });

  await t.step("and fails for a missing binary (the check is real)", async () => {
    const bad = `${dir}/bad`;
    const g = await run(Deno.execPath(), [
      "run",
      "-A",
      "main.ts",
      "systemd",
      "--out",
      bad,
      "--bin",
      `${dir}/nope/sluice`,
    ]);
    equal(g.code, 0, g.stderr);
    const v = await run("systemd-analyze", ["verify", "--man=no", ...UNITS], bad);
    assert(v.code !== 0 && v.stderr.includes("not executable"), v.stderr);
  });
});

Deno.test("sluice systemd rejects relative paths and unknown secrets", async () => {
  const rel = await run(Deno.execPath(), ["run", "-A", "main.ts", "systemd", "--bin", "sluice"]);
  equal(rel.code, 2);
  assert(rel.stderr.includes("--bin: 'sluice' is not an absolute path"), rel.stderr);
  const sec = await run(Deno.execPath(), [
    "run",
    "-A",
    "main.ts",
    "systemd",
    "--out",
    `${dir}/x`,
    "--secret",
    "SLUICE_NOPE",
  ]);
  equal(sec.code, 2);
  assert(sec.stderr.includes("'SLUICE_NOPE' is not a Sluice variable"), sec.stderr);
});
