import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { parseDatabaseUrl } from "../../src/db/connect.ts";
import { describePostgresUrl, parsePostgresUrl } from "../../src/db/url.ts";
import { loadConfig } from "../../src/config/load.ts";
import { describeConfig } from "../../src/config/show.ts";

const HA =
  "postgres://sluice:s3cr%40t@db1:5432,db2:5433,[fd00::7]/sluice?target_session_attrs=read-write";

Deno.test("parsePostgresUrl() takes libpq's host list, IPv6 and default ports included", () => {
  const u = parsePostgresUrl(HA);
  deepStrictEqual(u.hosts, [
    { host: "db1", port: 5432 },
    { host: "db2", port: 5433 },
    { host: "fd00::7", port: null },
  ]);
  equal(u.username, "sluice");
  equal(u.password, "s3cr@t");
  equal(u.singleHost.pathname, "/sluice");
  equal(u.singleHost.searchParams.get("target_session_attrs"), "read-write");
});

Deno.test("parseDatabaseUrl() hands postgres.js host and port arrays, socket dirs unchanged", () => {
  deepStrictEqual(parseDatabaseUrl(HA), {
    url: "postgres://sluice:s3cr%40t@db1:5432/sluice?target_session_attrs=primary",
    host: ["db1", "db2", "fd00::7"],
    port: [5432, 5433, 5432],
  });
  deepStrictEqual(parseDatabaseUrl("postgres://u@localhost/db?host=/run/pg&port=5433"), {
    url: "postgres://u@localhost/db",
    host: "/run/pg",
    port: 5433,
  });
  deepStrictEqual(parseDatabaseUrl("postgresql://u@h:6000/db"), {
    url: "postgresql://u@h:6000/db",
    host: null,
    port: null,
  });
});

Deno.test("describePostgresUrl() lists every host and never shows the password or query", () => {
  equal(
    describePostgresUrl(HA),
    "postgres://sluice:<redacted>@db1:5432,db2:5433,[fd00::7]/sluice?<redacted>",
  );
});

Deno.test("bad host lists are refused without quoting the URL", () => {
  for (
    const bad of [
      "postgres://u:pw@db1:5432,,db2/x",
      "postgres://u:pw@db1:99999/x",
      "mysql://u:pw@h/x",
      "nope",
    ]
  ) {
    throws(() => parsePostgresUrl(bad), (e: Error) => !e.message.includes("pw"));
  }
});

Deno.test("config accepts a multi-host DATABASE_URL and shows it redacted, per host", () => {
  const r = loadConfig({ DATABASE_URL: HA });
  if (!r.ok) throw new Error(r.problems.join("; "));
  equal(r.config.databaseUrl, HA);
  const row = describeConfig(r.config, r.sources).find((x) => x.name === "DATABASE_URL")!;
  equal(JSON.stringify(row).includes("s3cr"), false);
  equal(JSON.stringify(row).includes("db1:5432,db2:5433"), true);
  const bad = loadConfig({ DATABASE_URL: "postgres://u:pw@db1:5432,db2:x/sluice" });
  equal(bad.ok, false);
  if (!bad.ok) equal(bad.problems.join("\n").includes(":pw@"), false);
});
