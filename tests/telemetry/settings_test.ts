import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { loadConfig, requireConfig } from "../../src/config/load.ts";
import { describeConfig } from "../../src/config/show.ts";
import { anySignal, telemetrySettings } from "../../src/obs/telemetry/settings.ts";

const settings = (env: Record<string, string>, role = "worker") =>
  telemetrySettings(requireConfig(env).config, role);

Deno.test("telemetrySettings() follows the standard OTEL_* variables", async (t) => {
  await t.step("nothing set: off, every signal", () => {
    const s = settings({});
    assert(!anySignal(s));
    equal(s.protocol, "http/protobuf");
    equal(s.serviceName, "sluice-worker");
    equal(s.metricIntervalMs, 60_000);
  });

  await t.step("the base endpoint alone turns on all three, with the standard paths", () => {
    deepEqual(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/" }).endpoints, {
      traces: "http://c:4318/v1/traces",
      metrics: "http://c:4318/v1/metrics",
      logs: "http://c:4318/v1/logs",
    });
  });

  await t.step("a per-signal endpoint is used as is and turns on that signal alone", () => {
    deepEqual(
      settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://t.example/otlp" }).endpoints,
      {
        traces: "https://t.example/otlp",
        metrics: null,
        logs: null,
      },
    );
  });

  await t.step("OTEL_SDK_DISABLED and OTEL_<SIGNAL>_EXPORTER=none switch off", () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" };
    assert(!anySignal(settings({ ...base, OTEL_SDK_DISABLED: "true" })));
    const some = settings({ ...base, OTEL_LOGS_EXPORTER: "none" });
    equal(some.endpoints.logs, null);
    equal(some.endpoints.traces, "http://c:4318/v1/traces");
  });

  await t.step("headers and resource attributes are percent-decoded pairs", () => {
    const s = settings({
      OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Basic%20abc%3D%3D, x-scope=t1",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,host.name=a",
      OTEL_SERVICE_NAME: "jobs",
    });
    deepEqual(s.headers, { Authorization: "Basic abc==", "x-scope": "t1" });
    deepEqual(s.resourceAttributes, { "deployment.environment": "prod", "host.name": "a" });
    equal(s.serviceName, "jobs");
  });
});

Deno.test("config check lists the OTEL_* variables, headers redacted; bad values are problems", () => {
  const r = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
    OTEL_EXPORTER_OTLP_HEADERS: "authorization=Basic%20c2VjcmV0",
  });
  assert(r.ok);
  const rows = Object.fromEntries(describeConfig(r.config, r.sources).map((x) => [x.name, x]));
  equal(rows.OTEL_EXPORTER_OTLP_ENDPOINT!.value, "http://c:4318");
  equal(rows.OTEL_EXPORTER_OTLP_HEADERS!.value, "<redacted, 1 header(s): authorization>");
  assert(!JSON.stringify(rows).includes("c2VjcmV0"));
  for (
    const name of [
      "OTEL_EXPORTER_OTLP_PROTOCOL",
      "OTEL_METRIC_EXPORT_INTERVAL",
      "OTEL_SDK_DISABLED",
    ]
  ) {
    assert(rows[name], `${name} listed`);
  }

  const bad = loadConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://c:4317",
    OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
    OTEL_EXPORTER_OTLP_HEADERS: "justasecretvalue",
  });
  assert(!bad.ok);
  const text = bad.problems.join("\n");
  assert(text.includes("OTEL_EXPORTER_OTLP_ENDPOINT"), text);
  assert(text.includes("OTEL_EXPORTER_OTLP_PROTOCOL"), text);
  assert(text.includes("OTEL_EXPORTER_OTLP_HEADERS: must be a list of key=value pairs"), text);
  assert(!text.includes("justasecretvalue"), "a malformed header value is never quoted");
});
