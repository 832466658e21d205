import { deepStrictEqual, ok as assert, strictEqual, throws } from "node:assert/strict";
import { closestName } from "../../src/config/closest.ts";
import { type ConfigResult, loadConfig, requireConfig } from "../../src/config/load.ts";
import {
  type ListenAddr,
  parseCidr,
  parseDuration,
  parseListenAddr,
  parseSize,
} from "../../src/config/parse.ts";
import { describeConfig } from "../../src/config/show.ts";
import { type Config, CONFIG_VARS } from "../../src/config/vars.ts";
import { BUILTIN_DELIVERY_DENY, LOCAL_DELIVERY_DENY } from "../../src/config/vars/delivery.ts";
import { isSluiceError } from "../../src/errors.ts";

// Compile-time: `Config` has exactly these fields and types (a table typo would widen one to
// `unknown` or drop the null).
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
const configShape: Equals<Config, {
  databaseUrl: string | null;
  dataDir: string;
  pgBin: string | null;
  apiAddr: ListenAddr | null;
  workerId: string;
  queues: string[] | null;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  taskTimeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  shutdownGraceMs: number;
  migrateOnStartup: boolean | null;
  workerMetricsAddr: ListenAddr | null;
  healthAllowlist: string[];
  trustedProxies: string[];
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: "json" | "pretty";
  maxPayloadBytes: number | null;
  maxEnqueuePerMinute: number | null;
  maxQueueSize: number | null;
  maxBatchSize: number;
  archiveSucceededAfterMs: number;
  pruneHistoryAfterMs: number;
  scrubPayloadsAfterMs: number | null;
  maintenanceIntervalMs: number;
  signingSecrets: string[];
  signatureToleranceMs: number;
  bootstrapToken: string | null;
  sessionSecret: string | null;
  backupKey: string | null;
  apiRequestTimeoutMs: number;
  dbStatementTimeoutMs: number | null;
  metricsPublic: boolean;
  minFreeDiskBytes: number;
  deliveryDeny: string[];
  deliveryAllow: string[];
  apiRateLimitPerMinute: number | null;
  circuitFailures: number;
  circuitFailureRatio: number;
  circuitWindowMs: number;
  circuitCooldownMs: number;
  maintenanceDisable: string[];
  maintenanceLeaderTtlMs: number;
  scheduleMissed: "skip" | "once";
  alertStaleHeartbeatRatio: number;
  alertCallbackFailureRatio: number;
  alertRetrySuccessRate: number;
  alertSuccessRate: number;
  alertDepthGrowthMs: number;
  alertDlqGrowth: number;
  xminHorizonWarnMs: number;
  deadTupleRatioWarn: number;
  oidcIssuer: string | null;
  oidcJwksUrl: string | null;
  oidcJwksFile: string | null;
  oidcAudience: string[];
  oidcClockSkewMs: number;
  oidcJwksMaxStaleMs: number;
  callbackOidcAudience: string | null;
  callbackOidcMode: "either" | "both";
  callbackOidcEmails: string[];
  callbackOidcSubjects: string[];
  pushOidcIssuer: string | null;
  pushKeySecret: string | null;
  pushTokenLifetimeMs: number;
  otelEndpoint: string | null;
  otelTracesEndpoint: string | null;
  otelMetricsEndpoint: string | null;
  otelLogsEndpoint: string | null;
  otelProtocol: "http/protobuf" | "http/json";
  otelHeaders: Record<string, string> | null;
  otelExportTimeoutMs: number;
  otelServiceName: string | null;
  otelResourceAttributes: Record<string, string> | null;
  otelSdkDisabled: boolean;
  otelMetricIntervalMs: number;
  otelTracesExporter: "otlp" | "none";
  otelMetricsExporter: "otlp" | "none";
  otelLogsExporter: "otlp" | "none";
}> = true;
strictEqual(configShape, true);

function okConfig(r: ConfigResult) {
  if (!r.ok) throw new Error(`expected ok, got problems: ${r.problems.join(" | ")}`);
  return r;
}

function problemsOf(r: ConfigResult): string[] {
  if (r.ok) throw new Error("expected problems, got ok");
  return r.problems;
}

const TOKEN = "sluice_" + "a".repeat(40);

Deno.test("loadConfig() gives working defaults when the environment is empty", () => {
  const r = okConfig(loadConfig({}));
  const c = r.config;
  strictEqual(c.databaseUrl, null);
  strictEqual(c.dataDir, "./sluice-data");
  strictEqual(c.pgBin, null);
  deepStrictEqual(c.apiAddr, { hostname: "127.0.0.1", port: 8080 });
  assert(c.workerId.endsWith(`-${Deno.pid}`), c.workerId);
  strictEqual(c.queues, null);
  strictEqual(c.concurrency, 10);
  strictEqual(c.leaseMs, 30_000);
  strictEqual(c.pollMs, 1_000);
  strictEqual(c.taskTimeoutMs, 300_000);
  strictEqual(c.maxAttempts, 5);
  strictEqual(c.backoffBaseMs, 1_000);
  strictEqual(c.backoffMaxMs, 3_600_000);
  strictEqual(c.shutdownGraceMs, 30_000);
  strictEqual(c.migrateOnStartup, null);
  deepStrictEqual(c.workerMetricsAddr, { hostname: "127.0.0.1", port: 9464 });
  deepStrictEqual(c.healthAllowlist, []);
  deepStrictEqual(c.trustedProxies, []);
  strictEqual(c.logLevel, "info");
  strictEqual(c.logFormat, "json");
  strictEqual(c.maxPayloadBytes, 1_000_000);
  strictEqual(c.maxEnqueuePerMinute, null);
  strictEqual(c.maxQueueSize, null);
  strictEqual(c.maxBatchSize, 10_000);
  strictEqual(c.archiveSucceededAfterMs, 7 * 86_400_000);
  strictEqual(c.pruneHistoryAfterMs, 30 * 86_400_000);
  strictEqual(c.scrubPayloadsAfterMs, null);
  strictEqual(c.maintenanceIntervalMs, 5_000);
  deepStrictEqual(c.signingSecrets, []);
  strictEqual(c.signatureToleranceMs, 300_000);
  strictEqual(c.bootstrapToken, null);
  strictEqual(c.apiRequestTimeoutMs, 30_000);
  strictEqual(c.dbStatementTimeoutMs, 5_000);
  strictEqual(c.metricsPublic, false);
  strictEqual(c.minFreeDiskBytes, 1_000_000_000);
  deepStrictEqual(c.deliveryDeny, [...BUILTIN_DELIVERY_DENY, ...LOCAL_DELIVERY_DENY]);
  deepStrictEqual(c.deliveryAllow, []);
  strictEqual(c.apiRateLimitPerMinute, 6000);
  deepStrictEqual(r.warnings, []);
  deepStrictEqual(r.unknown, []);
  assert(Object.values(r.sources).every((s) => s === "default"));
});

Deno.test("loadConfig() treats an empty value as unset", () => {
  const r = okConfig(loadConfig({ SLUICE_LEASE: "", SLUICE_QUEUES: "", DATABASE_URL: "" }));
  strictEqual(r.config.leaseMs, 30_000);
  strictEqual(r.config.queues, null);
  strictEqual(r.config.databaseUrl, null);
  strictEqual(r.sources.leaseMs, "default");
});

Deno.test("loadConfig() reports every problem at once, in table order", () => {
  const problems = problemsOf(loadConfig({
    SLUICE_LEASE: "abc",
    SLUICE_CONCURRENCY: "0",
    SLUICE_LOG_LEVEL: "verbose",
  }));
  deepStrictEqual(problems, [
    'SLUICE_CONCURRENCY: "0" is out of range (1 to 10000)',
    'SLUICE_LEASE: "abc" is not a duration (use e.g. 500ms, 15s, 5m)',
    'SLUICE_LOG_LEVEL: "verbose" is not one of debug, info, warn, error',
  ]);
});

Deno.test("loadConfig() lists each bad entry of a list variable", () => {
  const problems = problemsOf(loadConfig({
    SLUICE_HEALTH_ALLOWLIST: '["10.0.0.0/33", "::1", "nope"]',
    SLUICE_QUEUES: "emails,Bad Queue,x..y",
  }));
  strictEqual(problems.length, 4, problems.join("\n"));
  assert(problems.includes(
    `SLUICE_QUEUES: "Bad Queue" is not a valid queue name ` +
      `(lowercase letters and digits separated by '.', '_' or '-', at most 64 characters)`,
  ));
  assert(problems.some((p) => p.startsWith('SLUICE_QUEUES: "x..y"')));
  assert(
    problems.some((p) => p.startsWith('SLUICE_HEALTH_ALLOWLIST: "10.0.0.0/33" is not a CIDR')),
  );
  assert(problems.some((p) => p.startsWith('SLUICE_HEALTH_ALLOWLIST: "nope" is not a CIDR')));
});

Deno.test("loadConfig() checks cross-field rules once the fields are valid", () => {
  const problems = problemsOf(loadConfig({ SLUICE_BACKOFF_BASE: "2h", SLUICE_BACKOFF_MAX: "1h" }));
  deepStrictEqual(problems, ['SLUICE_BACKOFF_BASE: "2h" is longer than SLUICE_BACKOFF_MAX ("1h")']);
});

Deno.test("parseDuration() turns durations into milliseconds", async (t) => {
  const cases: [string, number | null][] = [
    ["500ms", 500],
    ["15s", 15_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["7d", 604_800_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
    [" 30s ", 30_000],
    ["0", 0],
    ["abc", null],
    ["15", null],
    ["5 m", null],
    ["-5s", null],
    ["5M", null],
    ["", null],
  ];
  for (const [input, expected] of cases) {
    await t.step(`${JSON.stringify(input)} → ${expected}`, () => {
      strictEqual(parseDuration(input), expected);
    });
  }
});

Deno.test("parseSize() turns sizes into bytes", async (t) => {
  const cases: [string, number | null][] = [
    ["512KB", 512_000],
    ["1MB", 1_000_000],
    ["2GiB", 2 * 2 ** 30],
    ["1KiB", 1024],
    ["1048576", 1_048_576],
    ["100B", 100],
    ["1mb", 1_000_000],
    ["1.5MB", 1_500_000],
    ["0", 0],
    ["1XB", null],
    ["MB", null],
    ["-1MB", null],
  ];
  for (const [input, expected] of cases) {
    await t.step(`${JSON.stringify(input)} → ${expected}`, () => {
      strictEqual(parseSize(input), expected);
    });
  }
});

Deno.test("loadConfig() parses durations, sizes and their special values", () => {
  const c = okConfig(loadConfig({
    SLUICE_LEASE: "15s",
    SLUICE_MAX_PAYLOAD_BYTES: "none",
    SLUICE_MIN_FREE_DISK: "2GiB",
    SLUICE_SCRUB_PAYLOADS_AFTER: "14d",
    SLUICE_API_RATE_LIMIT: "none",
    SLUICE_MAX_QUEUE_SIZE: "50000",
    SLUICE_DB_STATEMENT_TIMEOUT: "off",
  })).config;
  strictEqual(c.leaseMs, 15_000);
  strictEqual(c.maxPayloadBytes, null);
  strictEqual(c.minFreeDiskBytes, 2 * 2 ** 30);
  strictEqual(c.scrubPayloadsAfterMs, 14 * 86_400_000);
  strictEqual(c.apiRateLimitPerMinute, null);
  strictEqual(c.maxQueueSize, 50_000);
  strictEqual(c.dbStatementTimeoutMs, null);
  strictEqual(
    okConfig(loadConfig({ SLUICE_DB_STATEMENT_TIMEOUT: "1.5s" })).config.dbStatementTimeoutMs,
    1_500,
  );

  const problems = problemsOf(loadConfig({
    SLUICE_LEASE: "500ms",
    SLUICE_MIN_FREE_DISK: "lots",
    // 0 would be PostgreSQL's "no timeout": a typo for off, or for 0.5s? Refused, not guessed.
    SLUICE_DB_STATEMENT_TIMEOUT: "0",
  }));
  deepStrictEqual(problems, [
    'SLUICE_MIN_FREE_DISK: "lots" is not a size (use e.g. 512KB, 1MB, 2GiB or a number of bytes)',
    'SLUICE_DB_STATEMENT_TIMEOUT: "0" is too short (at least 10ms)',
    'SLUICE_LEASE: "500ms" is too short (at least 1s)',
  ]);
});

Deno.test("parseListenAddr() accepts host:port including bracketed IPv6", async (t) => {
  const good: [string, string, number][] = [
    ["127.0.0.1:8080", "127.0.0.1", 8080],
    ["0.0.0.0:0", "0.0.0.0", 0],
    ["[::1]:8080", "::1", 8080],
    ["[::]:9464", "::", 9464],
    ["localhost:80", "localhost", 80],
  ];
  for (const [input, hostname, port] of good) {
    await t.step(`accepts ${input}`, () => {
      deepStrictEqual(parseListenAddr(input), { hostname, port });
    });
  }
  for (const bad of ["8080", "::1:8080", "127.0.0.1:99999", "[zz]:80", "127.0.0.1", ":8080"]) {
    await t.step(`refuses ${bad}`, () => throws(() => parseListenAddr(bad)));
  }
});

Deno.test("loadConfig() maps 'off' listen addresses to null", () => {
  const c = okConfig(loadConfig({ SLUICE_API_ADDR: "off", SLUICE_WORKER_METRICS_ADDR: "OFF" }))
    .config;
  strictEqual(c.apiAddr, null);
  strictEqual(c.workerMetricsAddr, null);
  deepStrictEqual(
    problemsOf(loadConfig({ SLUICE_API_ADDR: "::1:8080" })),
    [
      'SLUICE_API_ADDR: "::1:8080" is not a host:port address (put IPv6 addresses in brackets, e.g. [::1]:8080)',
    ],
  );
});

Deno.test("parseCidr() validates IPv4 and IPv6 CIDRs", async (t) => {
  const cases: [string, string | null][] = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["192.168.1.7", "192.168.1.7/32"],
    ["::1", "::1/128"],
    ["fd00::/8", "fd00::/8"],
    ["FE80::/10", "fe80::/10"],
    ["2001:db8::1:0:0:1/64", "2001:db8::1:0:0:1/64"],
    ["::ffff:10.0.0.1/128", "::ffff:10.0.0.1/128"],
    ["10.0.0.0/33", null],
    ["256.0.0.0/8", null],
    ["fd00::/129", null],
    ["1:2:3:4:5:6:7:8:9/64", null],
    ["fd00:::1/64", null],
    ["10.0.0.0/8/8", null],
    ["example.com/8", null],
  ];
  for (const [input, expected] of cases) {
    await t.step(`${input} → ${expected}`, () => strictEqual(parseCidr(input), expected));
  }
});

Deno.test("loadConfig() reads lists as CSV or JSON arrays", () => {
  const csv = okConfig(
    loadConfig({ SLUICE_HEALTH_ALLOWLIST: "10.0.0.0/8, ::1 ,", SLUICE_QUEUES: "a,b,a" }),
  );
  deepStrictEqual(csv.config.healthAllowlist, ["10.0.0.0/8", "::1/128"]);
  deepStrictEqual(csv.config.queues, ["a", "b"]);
  const json = okConfig(loadConfig({ SLUICE_HEALTH_ALLOWLIST: '["10.0.0.0/8","fd00::/8"]' }));
  deepStrictEqual(json.config.healthAllowlist, ["10.0.0.0/8", "fd00::/8"]);
  deepStrictEqual(problemsOf(loadConfig({ SLUICE_HEALTH_ALLOWLIST: '["10.0.0.0/8",' })), [
    'SLUICE_HEALTH_ALLOWLIST: "[\\"10.0.0.0/8\\"," is not a JSON array of strings',
  ]);
});

Deno.test("loadConfig() adds SLUICE_DELIVERY_DENY to the default deny list", () => {
  const c = okConfig(loadConfig({
    SLUICE_DELIVERY_DENY: "10.0.0.0/8,169.254.0.0/16,127.0.0.0/8",
    SLUICE_DELIVERY_ALLOW: "127.0.0.1/32",
  })).config;
  deepStrictEqual(c.deliveryDeny, [...BUILTIN_DELIVERY_DENY, ...LOCAL_DELIVERY_DENY, "10.0.0.0/8"]);
  deepStrictEqual(c.deliveryAllow, ["127.0.0.1/32"]);
});

Deno.test("loadConfig() parses booleans", async (t) => {
  for (
    const [input, expected] of [["true", true], ["1", true], ["YES", true], ["no", false], [
      "0",
      false,
    ]] as const
  ) {
    await t.step(`${input} → ${expected}`, () => {
      strictEqual(
        okConfig(loadConfig({ SLUICE_MIGRATE_ON_STARTUP: input })).config.migrateOnStartup,
        expected,
      );
    });
  }
  deepStrictEqual(problemsOf(loadConfig({ SLUICE_METRICS_PUBLIC: "maybe" })), [
    'SLUICE_METRICS_PUBLIC: "maybe" is not a boolean (use true, false, 1, 0, yes or no)',
  ]);
});

Deno.test("loadConfig() validates secrets without ever quoting them", () => {
  const secretUrl = "mysql://user:hunter2hunter2@db/x";
  const shortSecret = "tooshort";
  const badToken = "token_hunter2";
  const problems = problemsOf(loadConfig({
    DATABASE_URL: secretUrl,
    SLUICE_SIGNING_SECRETS: `a-long-enough-secret-value,${shortSecret},whsec_!!!`,
    SLUICE_BOOTSTRAP_TOKEN: badToken,
  }));
  strictEqual(problems.length, 4, problems.join("\n"));
  const text = problems.join("\n");
  for (const secret of ["hunter2", shortSecret, "!!!"]) {
    assert(!text.includes(secret), `problem text leaks ${secret}: ${text}`);
  }
  assert(text.includes("SLUICE_SIGNING_SECRETS: secret 2 of 3 is 8 characters"));
  assert(
    text.includes(
      'SLUICE_SIGNING_SECRETS: secret 3 of 3 starts with "whsec_" but the rest is not base64',
    ),
  );
  assert(text.includes('SLUICE_BOOTSTRAP_TOKEN: the token must start with "sluice_"'));

  const good = okConfig(loadConfig({
    DATABASE_URL: "postgres://sluice:hunter2@db.internal:5432/sluice?sslmode=require",
    SLUICE_SIGNING_SECRETS: `whsec_${btoa("0123456789abcdef0123")},a-long-enough-secret-value`,
    SLUICE_BOOTSTRAP_TOKEN: TOKEN,
  }));
  strictEqual(good.config.signingSecrets.length, 2);
  strictEqual(good.config.bootstrapToken, TOKEN);
});

Deno.test("describeConfig() redacts secrets and reports sources", () => {
  const r = okConfig(loadConfig({
    DATABASE_URL: "postgres://sluice:hunter2@db.internal:5432/sluice?password=x",
    SLUICE_SIGNING_SECRETS: "a-long-enough-secret-value,another-long-secret-value",
    SLUICE_BOOTSTRAP_TOKEN: TOKEN,
    SLUICE_LEASE: "90000ms",
  }));
  const rows = describeConfig(r.config, r.sources);
  strictEqual(rows.length, CONFIG_VARS.length);
  const row = (name: string) => rows.find((x) => x.name === name)!;
  deepStrictEqual(row("DATABASE_URL"), {
    name: "DATABASE_URL",
    value: "postgres://sluice:<redacted>@db.internal:5432/sluice?<redacted>",
    source: "env",
  });
  strictEqual(row("SLUICE_SIGNING_SECRETS").value, "<redacted, 2 secrets>");
  strictEqual(row("SLUICE_BOOTSTRAP_TOKEN").value, `<redacted, ${TOKEN.length} chars>`);
  deepStrictEqual(row("SLUICE_LEASE"), { name: "SLUICE_LEASE", value: "90s", source: "env" });
  deepStrictEqual(row("SLUICE_POLL"), { name: "SLUICE_POLL", value: "1s", source: "default" });
  const all = JSON.stringify(rows);
  for (const secret of ["hunter2", TOKEN, "a-long-enough", "password=x"]) {
    assert(!all.includes(secret), `describeConfig leaks ${secret}`);
  }
});

Deno.test("loadConfig() reads NAME_FILE variants", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sluice_config_test_" });
  try {
    await t.step("value comes from the file, trailing newline trimmed", async () => {
      const path = `${dir}/token`;
      await Deno.writeTextFile(path, `${TOKEN}\n`);
      const lease = `${dir}/lease`;
      await Deno.writeTextFile(lease, "45s\r\n");
      const r = okConfig(
        loadConfig({ SLUICE_BOOTSTRAP_TOKEN_FILE: path, SLUICE_LEASE_FILE: lease }),
      );
      strictEqual(r.config.bootstrapToken, TOKEN);
      strictEqual(r.config.leaseMs, 45_000);
      strictEqual(r.sources.bootstrapToken, "file");
      const rows = describeConfig(r.config, r.sources);
      strictEqual(rows.find((x) => x.name === "SLUICE_LEASE")!.source, "file");
      deepStrictEqual(r.unknown, []);
    });
    await t.step(
      "both set, missing file, empty file and a bad value are all reported",
      async () => {
        const empty = `${dir}/empty`;
        await Deno.writeTextFile(empty, "\n");
        const bad = `${dir}/bad`;
        await Deno.writeTextFile(bad, "forever\n");
        const problems = problemsOf(loadConfig({
          SLUICE_LEASE: "30s",
          SLUICE_LEASE_FILE: bad,
          DATABASE_URL_FILE: `${dir}/missing`,
          SLUICE_BOOTSTRAP_TOKEN_FILE: empty,
          SLUICE_POLL_FILE: bad,
        }));
        deepStrictEqual(problems, [
          `DATABASE_URL_FILE: cannot read "${dir}/missing" (no such file)`,
          `SLUICE_BOOTSTRAP_TOKEN_FILE: "${dir}/empty" is empty`,
          "SLUICE_LEASE and SLUICE_LEASE_FILE are both set (use one)",
          'SLUICE_POLL: "forever" is not a duration (use e.g. 500ms, 15s, 5m)',
        ]);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig() flags unknown SLUICE_ names with a suggestion, as warnings", () => {
  const r = okConfig(loadConfig({
    SLUICE_LEAS: "30s",
    SLUICE_CONCURENCY: "4",
    SLUICE_DATABASE_URL: "postgres://x/y",
    SLUICE_LEASE_FLIE: "/x",
    sluice_poll: "1s",
    SLUICE_TOTALLY_DIFFERENT_THING: "1",
    SLUICE_JOB_ID: "42",
    HOME: "/root",
  }));
  deepStrictEqual(r.unknown, [
    { name: "SLUICE_CONCURENCY", suggestion: "SLUICE_CONCURRENCY" },
    { name: "SLUICE_DATABASE_URL", suggestion: "DATABASE_URL" },
    { name: "SLUICE_LEAS", suggestion: "SLUICE_LEASE" },
    { name: "SLUICE_LEASE_FLIE", suggestion: "SLUICE_LEASE_FILE" },
    { name: "SLUICE_TOTALLY_DIFFERENT_THING", suggestion: null },
    { name: "sluice_poll", suggestion: "SLUICE_POLL" },
  ]);
  assert(r.warnings.includes("SLUICE_LEAS is not a Sluice variable (did you mean SLUICE_LEASE?)"));
  assert(r.warnings.includes("SLUICE_TOTALLY_DIFFERENT_THING is not a Sluice variable"));
});

Deno.test("requireConfig() throws CONFIG_INVALID listing every problem", () => {
  throws(
    () => requireConfig({ SLUICE_LEASE: "abc", SLUICE_POLL: "x" }),
    (e: unknown) => {
      assert(isSluiceError(e, "CONFIG_INVALID"));
      deepStrictEqual((e.details as { problems: string[] }).problems.length, 2);
      return true;
    },
  );
  strictEqual(requireConfig({}).config.concurrency, 10);
});

Deno.test("closestName() suggests near misses only", () => {
  strictEqual(closestName("wroker", ["worker", "version", "migrate"]), "worker");
  strictEqual(closestName("migrat", ["worker", "version", "migrate"]), "migrate");
  strictEqual(closestName("zzzzzz", ["worker", "version", "migrate"]), null);
});

Deno.test("every variable has a name, a description and a parseable default", () => {
  const names = new Set<string>();
  for (const v of CONFIG_VARS) {
    assert(!names.has(v.name), `duplicate ${v.name}`);
    names.add(v.name);
    // OTEL_*: the OpenTelemetry standard names (src/config/vars/telemetry.ts).
    assert(
      v.name === "DATABASE_URL" || v.name.startsWith("SLUICE_") || v.name.startsWith("OTEL_"),
      v.name,
    );
    assert(v.description.length > 10 && !v.description.endsWith("."), v.name);
  }
  // The defaults parse: loading an empty environment succeeds (checked above) and setting
  // each default explicitly yields the same config.
  const defaults = Object.fromEntries(
    CONFIG_VARS.filter((v) => v.default !== null && v.default !== "").map((
      v,
    ) => [v.name, v.default!]),
  );
  const explicit = okConfig(loadConfig(defaults)).config;
  const implicit = okConfig(loadConfig({})).config;
  deepStrictEqual({ ...explicit, workerId: "" }, { ...implicit, workerId: "" });
});
