import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { parse } from "yaml";
import { COMMAND_GROUPS, COMMANDS } from "../../src/cli/commands.ts";
import { CONFIG_VARS } from "../../src/config/vars.ts";

interface Service {
  image?: string;
  build?: { context: string; target: string; args: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  env_file?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  container_name?: string;
  volumes?: string[];
  restart?: string;
}

const compose = parse(await Deno.readTextFile("compose.yaml"), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const SLUICE_ROLES = ["migrate", "api", "worker", "maintenance"];

/** Registered subcommands plus those DESIGN.md names that other branches are still building. */
const SUBCOMMANDS = new Set([
  ...COMMANDS.map((c) => c.name),
  ...COMMAND_GROUPS.flatMap((g) => g.names),
]);
const KNOWN_ENV = new Set(
  CONFIG_VARS.flatMap((v) => [v.name, `${v.name}_FILE`]).concat(["DATABASE_URL"]),
);

Deno.test("compose.yaml has db, migrate, api, worker and maintenance", () => {
  deepStrictEqual(Object.keys(services).sort(), ["api", "db", "maintenance", "migrate", "worker"]);
});

Deno.test("compose.yaml runs real subcommands", () => {
  for (const name of SLUICE_ROLES) {
    const s = services[name]!;
    assert(Array.isArray(s.command) && s.command.length > 0, `${name} has a command`);
    assert(SUBCOMMANDS.has(s.command[0]!), `${name}: '${s.command[0]}' is not a subcommand`);
  }
  deepStrictEqual(services.migrate!.command, ["migrate", "up"]);
});

Deno.test("compose.yaml uses only environment names the config schema knows", () => {
  for (const name of SLUICE_ROLES) {
    const env = services[name]!.environment ?? {};
    assert(Object.keys(env).length > 0, `${name} has an environment`);
    for (const key of Object.keys(env)) {
      assert(KNOWN_ENV.has(key), `${name}: '${key}' is not a Sluice variable`);
    }
    // `.env` unless SLUICE_ENV_FILE names another (the live test's own).
    equal(services[name]!.env_file, "${SLUICE_ENV_FILE:-.env}");
    equal(env.SLUICE_MIGRATE_ON_STARTUP, "false", `${name} leaves migrations to migrate`);
    assert(env.DATABASE_URL?.includes("@db:5432/"), `${name} reaches the db service`);
  }
});

Deno.test(".env.example names only known variables (or the db service's)", async () => {
  const lines = (await Deno.readTextFile(".env.example")).split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
  assert(lines.length > 0);
  for (const line of lines) {
    const key = line.slice(0, line.indexOf("="));
    assert(
      KNOWN_ENV.has(key) || key.startsWith("POSTGRES_"),
      `.env.example: '${key}' is not a Sluice variable`,
    );
  }
});

Deno.test("compose.yaml starts in order by health and keeps workers scalable", () => {
  const db = services.db!;
  // A test on a host without a registry may name a stand-in; the default is the real image.
  equal(db.image, "${POSTGRES_IMAGE:-postgres:16}");
  assert(db.healthcheck?.test.join(" ").includes("pg_isready"));
  assert(db.volumes?.some((v) => v.endsWith(":/var/lib/postgresql/data")));
  assert("pgdata" in compose.volumes);
  deepStrictEqual(services.migrate!.depends_on, { db: { condition: "service_healthy" } });
  equal(services.migrate!.restart, "no");
  for (const name of ["api", "worker", "maintenance"]) {
    deepStrictEqual(services[name]!.depends_on, {
      db: { condition: "service_healthy" },
      migrate: { condition: "service_completed_successfully" },
    });
  }
  // `--scale worker=N` needs no fixed name and no published port.
  equal(services.worker!.container_name, undefined);
  equal(services.worker!.ports, undefined);
});

Deno.test("compose.yaml builds the default target and stamps the commit", () => {
  for (const name of SLUICE_ROLES) {
    deepStrictEqual(services[name]!.build, {
      context: ".",
      target: "${BUILD_TARGET:-runtime}",
      args: { SLUICE_COMMIT: "${SLUICE_COMMIT:-unknown}" },
    }, name);
  }
});

Deno.test("Dockerfile: a stamped bundle, compiled by default or run by deno (runtime-bundle)", async () => {
  const text = await Deno.readTextFile("Dockerfile");
  // A `# syntax=` line makes BuildKit pull a frontend image that nothing here needs.
  assert(!/^#\s*syntax=/m.test(text), "no syntax line");
  const stages = [...text.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)].map((m) => [m[1], m[2]]);
  deepStrictEqual(stages, [
    ["denoland/deno:2.9.6", "build"],
    ["gcr.io/distroless/cc-debian12:nonroot", "runtime-base"],
    ["runtime-base", "runtime-bundle"],
    ["build", "compile"],
    // Last, so a plain `docker build` makes the compiled executable.
    ["runtime-base", "runtime"],
  ]);
  assert(/^ARG SLUICE_COMMIT=unknown$/m.test(text));
  assert(text.includes("deno task bundle"), "the stamping bundle script");
  assert(text.includes("deno compile -A --no-config --output /out/sluice /out/sluice.js"));
  const entries = [...text.matchAll(/^ENTRYPOINT (.+)$/gm)].map((m) => JSON.parse(m[1]!));
  deepStrictEqual(entries, [
    ["/usr/local/bin/deno", "run", "-A", "--no-config", "/usr/local/lib/sluice/sluice.js"],
    ["/usr/local/bin/sluice"],
  ]);
  const cmd = /^CMD \["(\w+)"\]$/m.exec(text);
  assert(cmd && SUBCOMMANDS.has(cmd[1]!), `CMD ${cmd?.[1]}`);
});
