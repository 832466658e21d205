import { deepStrictEqual, ok as assert, strictEqual } from "node:assert/strict";
import { COMMANDS } from "../../src/cli/commands.ts";
import { VERSION } from "../../src/version.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TOKEN = "sluice_" + "s3cr3t".repeat(6);
const SIGNING = "a-signing-secret-of-some-length";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real program with a clean environment plus `env`. */
async function sluice(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: Record<string, string> = { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" };
  // Deno finds its npm cache through these; they are not Sluice configuration.
  for (const name of ["HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) base[name] = value;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "main.ts", ...args],
    cwd: ROOT,
    env: { ...base, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) =>
    new TextDecoder().decode(b).split("\n").filter((l) => !/"exports" field|deno\.json/.test(l))
      .join("\n");
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("sluice help lists commands in groups and exits 0", async () => {
  const r = await sluice(["help"]);
  strictEqual(r.code, 0, r.stderr);
  assert(r.stdout.includes("Usage: sluice <command>"));
  assert(r.stdout.includes("Setup:"));
  for (const c of COMMANDS) {
    assert(
      new RegExp(`^  ${c.name} +${c.summary.replace(/[()]/g, ".")}$`, "m").test(r.stdout),
      c.name,
    );
  }
  const alias = await sluice(["--help"]);
  strictEqual(alias.code, 0);
  strictEqual(alias.stdout, r.stdout);
});

Deno.test("sluice with no command prints the listing and exits 2", async () => {
  const r = await sluice([]);
  strictEqual(r.code, 2);
  assert(r.stdout.includes("Usage: sluice <command>"));
});

Deno.test("sluice <cmd> --help and sluice help <cmd> print the command's help", async (t) => {
  for (const c of COMMANDS) {
    await t.step(c.name, async () => {
      const viaFlag = await sluice([c.name, "--help"]);
      strictEqual(viaFlag.code, 0, viaFlag.stderr);
      strictEqual(viaFlag.stdout.trimEnd(), c.help.trimEnd());
      const viaHelp = await sluice(["help", c.name]);
      strictEqual(viaHelp.code, 0, viaHelp.stderr);
      strictEqual(viaHelp.stdout, viaFlag.stdout);
    });
  }
});

Deno.test("sluice version prints the version; --json is machine-readable", async () => {
  const text = await sluice(["version"]);
  strictEqual(text.code, 0, text.stderr);
  assert(text.stdout.startsWith(`sluice ${VERSION} (commit dev`), text.stdout);
  const json = await sluice(["version", "--json"]);
  strictEqual(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout);
  strictEqual(info.version, VERSION);
  strictEqual(info.commit, "dev");
  strictEqual(info.builtAt, "dev");
  strictEqual(info.deno, Deno.version.deno);
});

Deno.test("an unknown command exits 2 with the closest suggestion", async () => {
  const r = await sluice(["verison"]);
  strictEqual(r.code, 2);
  assert(r.stderr.includes("unknown command 'verison' (did you mean 'version'?)"), r.stderr);
  const viaHelp = await sluice(["help", "confgi"]);
  strictEqual(viaHelp.code, 2);
  assert(viaHelp.stderr.includes("unknown command 'confgi' (did you mean 'config'?)"));
});

Deno.test("an unknown flag exits 2", async (t) => {
  for (const args of [["version", "--bogus"], ["config", "check", "--bogus"], ["--bogus"]]) {
    await t.step(args.join(" "), async () => {
      const r = await sluice(args);
      strictEqual(r.code, 2, r.stdout);
      assert(/--bogus/i.test(r.stderr), r.stderr);
    });
  }
  const missing = await sluice(["config"]);
  strictEqual(missing.code, 2);
  assert(missing.stderr.includes("expected 'check'"));
});

const BAD_ENV = {
  SLUICE_LEASE: "abc",
  SLUICE_CONCURRENCY: "0",
  SLUICE_API_ADDR: "localhost",
  SLUICE_LEAS: "30s",
  SLUICE_BOOTSTRAP_TOKEN: "not-a-token-hunter2",
};

Deno.test("sluice config check prints every problem and exits 2", async () => {
  const r = await sluice(["config", "check"], BAD_ENV);
  strictEqual(r.code, 2, r.stderr);
  const problems = r.stdout.split("\n").filter((l) => l.startsWith("problem: "));
  deepStrictEqual(problems, [
    'problem: SLUICE_API_ADDR: "localhost" is not a host:port address (use e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080 or off)',
    'problem: SLUICE_BOOTSTRAP_TOKEN: the token must start with "sluice_", be at least 32 characters and contain no spaces (got 19 characters)',
    'problem: SLUICE_CONCURRENCY: "0" is out of range (1 to 10000)',
    'problem: SLUICE_LEASE: "abc" is not a duration (use e.g. 500ms, 15s, 5m)',
    "problem: SLUICE_LEAS is not a Sluice variable (did you mean SLUICE_LEASE?)",
  ]);
  assert(r.stdout.includes("5 problems: the configuration is invalid"));
  assert(!r.stdout.includes("hunter2") && !r.stderr.includes("hunter2"));
});

Deno.test("sluice config check fails on an unknown name alone", async () => {
  const r = await sluice(["config", "check"], { SLUICE_CONCURENCY: "4" });
  strictEqual(r.code, 2);
  assert(r.stdout.includes(
    "problem: SLUICE_CONCURENCY is not a Sluice variable (did you mean SLUICE_CONCURRENCY?)",
  ));
  // The rest of the config is valid, so it is still shown.
  assert(r.stdout.includes("SLUICE_CONCURRENCY "));
});

Deno.test("sluice config check with a good environment exits 0 and redacts secrets", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sluice_cli_test_" });
  try {
    await Deno.writeTextFile(`${dir}/token`, `${TOKEN}\n`);
    const env = {
      DATABASE_URL: "postgres://sluice:hunter2@db.internal:5432/sluice",
      SLUICE_BOOTSTRAP_TOKEN_FILE: `${dir}/token`,
      SLUICE_SIGNING_SECRETS: SIGNING,
      SLUICE_LEASE: "15s",
      SLUICE_API_ADDR: "[::1]:8081",
    };
    const r = await sluice(["config", "check"], env);
    strictEqual(r.code, 0, r.stdout + r.stderr);
    assert(/^NAME +VALUE +SOURCE$/m.test(r.stdout), r.stdout);
    assert(/^SLUICE_LEASE +15s +env$/m.test(r.stdout));
    assert(/^SLUICE_API_ADDR +\[::1\]:8081 +env$/m.test(r.stdout));
    assert(/^SLUICE_POLL +1s +default$/m.test(r.stdout));
    assert(/^SLUICE_DB_STATEMENT_TIMEOUT +5s +default$/m.test(r.stdout), r.stdout);
    assert(/^SLUICE_BOOTSTRAP_TOKEN +<redacted, 43 chars> +file$/m.test(r.stdout), r.stdout);
    assert(/^SLUICE_SIGNING_SECRETS +<redacted, 1 secret> +env$/m.test(r.stdout));
    assert(r.stdout.includes("postgres://sluice:<redacted>@db.internal:5432/sluice"));
    assert(r.stdout.includes("configuration ok (5 of"));
    for (const secret of ["hunter2", TOKEN, SIGNING]) assert(!r.stdout.includes(secret), secret);

    const json = await sluice(["config", "check", "--json"], env);
    strictEqual(json.code, 0);
    const body = JSON.parse(json.stdout);
    strictEqual(body.ok, true);
    deepStrictEqual(body.problems, []);
    deepStrictEqual(body.unknown, []);
    deepStrictEqual(body.config.find((x: { name: string }) => x.name === "SLUICE_LEASE"), {
      name: "SLUICE_LEASE",
      value: "15s",
      source: "env",
    });
    for (const secret of ["hunter2", TOKEN, SIGNING]) assert(!json.stdout.includes(secret), secret);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sluice config check warns when push may reach this host and the API listens beyond it", async () => {
  const env = {
    DATABASE_URL: "postgres://sluice@db.internal:5432/sluice",
    SLUICE_DELIVERY_ALLOW: "127.0.0.1/32",
  };
  const open = await sluice(["config", "check", "--json"], {
    ...env,
    SLUICE_API_ADDR: "0.0.0.0:8080",
  });
  strictEqual(open.code, 0, open.stderr);
  const warnings: string[] = JSON.parse(open.stdout).warnings;
  strictEqual(warnings.length, 1, open.stdout);
  assert(warnings[0]!.startsWith("SLUICE_DELIVERY_ALLOW lets http delivery reach this host"));
  for (
    const quiet of [
      { ...env, SLUICE_API_ADDR: "127.0.0.1:8080" },
      { DATABASE_URL: env.DATABASE_URL, SLUICE_API_ADDR: "0.0.0.0:8080" },
    ]
  ) {
    const r = await sluice(["config", "check", "--json"], quiet);
    deepStrictEqual(JSON.parse(r.stdout).warnings, [], JSON.stringify(quiet));
  }
});

Deno.test("sluice config check --json reports problems and unknown names", async () => {
  const r = await sluice(["config", "check", "--json"], BAD_ENV);
  strictEqual(r.code, 2);
  const body = JSON.parse(r.stdout);
  strictEqual(body.ok, false);
  strictEqual(body.problems.length, 4);
  deepStrictEqual(body.unknown, [{ name: "SLUICE_LEAS", suggestion: "SLUICE_LEASE" }]);
  strictEqual(body.config, null);
});

Deno.test("sluice config check --log writes one JSON line, for a unit's journal", async () => {
  const bad = await sluice(["config", "check", "--log"], BAD_ENV);
  strictEqual(bad.code, 2);
  const lines = (bad.stdout + bad.stderr).split("\n").filter((l) => l.trim() !== "");
  strictEqual(lines.length, 1, bad.stdout + bad.stderr);
  const invalid = JSON.parse(lines[0]!);
  strictEqual(invalid.msg, "config_invalid");
  strictEqual(invalid.code, "CONFIG_INVALID");
  strictEqual(invalid.problems.length, 5); // four problems and the unknown name
  const good = await sluice(["config", "check", "--log"], {
    DATABASE_URL: "postgres://sluice:hunter2@db.internal:5432/sluice",
  });
  strictEqual(good.code, 0, good.stdout + good.stderr);
  const checked = JSON.parse(good.stdout.trim());
  strictEqual(checked.msg, "config_checked");
  strictEqual(checked.variables_set, 1);
  assert(!good.stdout.includes("hunter2"));
  strictEqual((await sluice(["config", "check", "--log", "--json"])).code, 2);
});
