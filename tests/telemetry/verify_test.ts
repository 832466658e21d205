/**
 * `sluice verify telemetry` as an operator runs it: a real process against the in-test OTLP
 * receiver, accepted (exit 0, and the test span, metric point and log record arrived), refused
 * (exit 1), unreachable (exit 1), and with no endpoint configured (exit 2).
 */
import { equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePort } from "../_helpers/net.ts";
import { isolatedEnv } from "../_helpers/sluice_process.ts";
import { OtlpReceiver } from "./_otlp_receiver.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

async function verify(env: Record<string, string>, ...flags: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "verify", "telemetry", ...flags],
    env: isolatedEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("sluice verify telemetry: exit 0 when the collector accepts every signal, 1 when it refuses or is down, 2 without an endpoint", async (t) => {
  const otlp = new OtlpReceiver();
  try {
    for (const protocol of ["http/protobuf", "http/json"]) {
      await t.step(
        `accepted (${protocol}): the span, the metric point and the log record arrive`,
        async () => {
          const r = await verify({
            OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
            OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
            OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20sekrit-value",
          }, "--json");
          equal(r.code, 0, r.stderr);
          const report = JSON.parse(r.stdout);
          equal(report.ok, true);
          equal(report.signals.length, 3);
          assert(report.signals.every((s: { ok: boolean }) => s.ok));
          const span = otlp.spans.find((s) => s.traceId === report.traceId)!;
          equal(span.name, "sluice.verify_telemetry");
          equal(span.resource["service.name"], "sluice-verify");
          assert(otlp.metrics.some((m) => m.name === "sluice_verify_telemetry"));
          assert(otlp.logs.some((l) => l.body === "telemetry_verified"));
          equal(otlp.requests.at(-1)!.headers.get("authorization"), "Bearer sekrit-value");
          assert(!r.stdout.includes("sekrit") && !r.stderr.includes("sekrit"));
        },
      );
    }

    await t.step("refused by the collector (401): exit 1, per signal", async () => {
      otlp.answer = 401;
      const r = await verify({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
      otlp.answer = 200;
      equal(r.code, 1);
      assert(/traces\s.*FAIL/.test(r.stdout) && /logs\s.*FAIL/.test(r.stdout), r.stdout);
      assert(r.stderr.includes("did not accept"), r.stderr);
    });

    await t.step("only the traces endpoint set: the others are not exported and pass", async () => {
      const r = await verify(
        { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlp.url}/v1/traces` },
        "--json",
      );
      equal(r.code, 0, r.stderr);
      const signals = JSON.parse(r.stdout).signals;
      equal(signals.find((s: { signal: string }) => s.signal === "metrics").endpoint, null);
    });
  } finally {
    await otlp.close();
  }

  await t.step("nothing listening: exit 1", async () => {
    const r = await verify(
      { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${freePort()}` },
      "--timeout",
      "2s",
    );
    equal(r.code, 1, r.stdout);
    assert(/FAIL/.test(r.stdout));
  });

  await t.step(
    "no endpoint, or OTEL_SDK_DISABLED=true: exit 2 with the variable to set",
    async () => {
      const none = await verify({});
      equal(none.code, 2);
      assert(none.stderr.includes("OTEL_EXPORTER_OTLP_ENDPOINT"), none.stderr);
      const disabled = await verify({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
        OTEL_SDK_DISABLED: "true",
      });
      equal(disabled.code, 2);
    },
  );

  await t.step("--help", async () => {
    const r = await verify({}, "--help");
    equal(r.code, 0);
    assert(r.stdout.includes("Usage: sluice verify telemetry"));
  });
});
