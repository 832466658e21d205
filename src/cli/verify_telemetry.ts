import { hostname } from "node:os";
import { requireConfig } from "../config/load.ts";
import { SluiceError } from "../errors.ts";
import { anySignal, telemetrySettings } from "../obs/telemetry/settings.ts";
import { EXIT_FAILURE, EXIT_OK, parseFlags, reportError } from "./_command.ts";
import { durationFlag } from "./_operator.ts";
import { printJson, printTable } from "./_output.ts";

export const VERIFY_TELEMETRY_HELP = `Usage: sluice verify telemetry [--timeout 10s] [--json]

Sends one test span, one metric point (sluice_verify_telemetry) and one log record
(telemetry_verified) to the OTLP endpoints configured for this environment, and reports per
signal whether the collector accepted it: the runbook's "verify telemetry" step as one command.
Run it with the same environment as the roles (e.g. the systemd EnvironmentFile or compose env).

Reads the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal
OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT), OTEL_EXPORTER_OTLP_PROTOCOL
(http/protobuf or http/json), OTEL_EXPORTER_OTLP_HEADERS (never printed), OTEL_SERVICE_NAME
(default sluice-verify), OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED.

Options:
  --timeout DURATION  per export (default OTEL_EXPORTER_OTLP_TIMEOUT, else 10s)
  --json              {"ok","traceId","signals":[{"signal","endpoint","ok","detail"}]}
  -h, --help

Prints a table per signal and the test span's trace id (search for it in your tracing
backend). Exit codes: 0 every configured signal was accepted, 1 one was not (refused or
unreachable), 2 usage error or no endpoint configured.
`;

const FLAGS = { timeout: { type: "string" }, json: { type: "boolean" } } as const;

export async function verifyTelemetryCommand(args: string[]): Promise<number> {
  try {
    const parsed = parseFlags(args, FLAGS, VERIFY_TELEMETRY_HELP);
    if (!parsed) return EXIT_OK;
    // The whole environment is checked (as a role would), so a typo is reported here too.
    const settings = telemetrySettings(requireConfig().config, "verify");
    const timeoutMs = durationFlag("timeout", parsed.values.timeout);
    if (timeoutMs !== undefined) settings.exportTimeoutMs = timeoutMs;
    if (!anySignal(settings)) {
      throw new SluiceError(
        "CONFIG_INVALID",
        "telemetry is off: set OTEL_EXPORTER_OTLP_ENDPOINT (or a per-signal endpoint) and unset OTEL_SDK_DISABLED",
      );
    }
    // The SDK is loaded only here and in the roles with telemetry on.
    const { verifyTelemetry } = await import("../obs/telemetry/verify.ts");
    const { traceId, verdicts } = await verifyTelemetry(settings, `${hostname()}-${Deno.pid}`);
    const ok = verdicts.every((v) => v.ok);
    if (parsed.values.json) {
      printJson({ ok, traceId, signals: verdicts });
    } else {
      printTable(
        verdicts.map((v) => ({ ...v, endpoint: v.endpoint ?? "-", ok: v.ok ? "ok" : "FAIL" })),
        ["signal", "endpoint", "ok", "detail"],
      );
      console.log(`test span trace id: ${traceId}`);
    }
    if (ok) return EXIT_OK;
    const failed = verdicts.filter((v) => !v.ok);
    console.error(
      `error: the collector did not accept ${
        failed.map((v) => `${v.signal} (${v.detail})`).join("; ")
      }`,
    );
    return EXIT_FAILURE;
  } catch (e) {
    return reportError(e);
  }
}
