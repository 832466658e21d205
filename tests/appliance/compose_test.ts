import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { parse } from "yaml";
import { COMMAND_GROUPS, COMMANDS } from "../../src/cli/commands.ts";
import { CONFIG_VARS } from "../../src/config.ts";

interface Service {
  image?: string;
  build?: unknown;
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
    equal(services[name]!.env_file, ".env");
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
  assert(db.image?.startsWith("postgres:16"), db.image);
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

Deno.test("Dockerfile compiles with the stamping script onto a distroless runtime", async () => {
  const text = await Deno.readTextFile("Dockerfile");
  assert(/^FROM denoland\/deno:\S+ AS build$/m.test(text));
  assert(text.includes("deno run -A scripts/compile.ts"));
  assert(/^FROM gcr\.io\/distroless\/cc-debian12/m.test(text));
  const entry = /^ENTRYPOINT \["\/usr\/local\/bin\/sluice"\]$/m.test(text);
  assert(entry);
  const cmd = /^CMD \["(\w+)"\]$/m.exec(text);
  assert(cmd && SUBCOMMANDS.has(cmd[1]!), `CMD ${cmd?.[1]}`);
});
