/**
 * Telemetry end to end, with real processes: `sluice up` exporting to the in-test OTLP receiver
 * (both protocols), a push receiver that answers 202 and calls back with the `traceparent` its
 * push carried, and one trace id from `POST /v1/jobs` to the callback.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { bundleStamped } from "../../scripts/_build.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { type Received, signedCallback, startReceiver, Webhook } from "../delivery/_receiver.ts";
import { OtlpReceiver } from "./_otlp_receiver.ts";

const TOKEN = "sluice_" + "t".repeat(40);
const SECRET = "whsec_" + btoa("telemetry-secret-0123456789abcdef");
const wh = new Webhook(SECRET);
const SERVER = 2, CLIENT = 3, PRODUCER = 4, CONSUMER = 5;

function hex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

// The json run uses the bundle alone in an empty directory: dist/sluice.js carries the SDK.
for (const [protocol, bundled] of [["http/protobuf", false], ["http/json", true]] as const) {
  Deno.test(`sluice up (${protocol}${bundled ? ", from the bundle" : ""}): one trace from enqueue through attempt, push and callback; metrics and logs arrive`, async () => {
    const cwd = bundled ? await Deno.makeTempDir({ prefix: "sluice-otel-bundle-" }) : undefined;
    if (cwd) await bundleStamped(`${cwd}/sluice.js`);
    const otlp = new OtlpReceiver();
    let sluiceBase = "";
    // The push receiver: answers 202, then calls back signed, carrying the traceparent it got.
    // Like any receiver that calls back at once, it sends again on 409 CALLBACK_NOT_AWAITED
    // (the callback beat Sluice's record of the 202: the documented contract, callbacks.ts).
    const answers: string[] = [];
    const callBack = async (r: Received, cb: ReturnType<typeof signedCallback>, left = 100) => {
      const res = await fetch(`${sluiceBase}/v1/callbacks`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...cb.headers,
          traceparent: r.headers["traceparent"] ?? "",
        },
        body: cb.body,
      });
      const body = await res.text();
      answers.push(`${res.status} ${body.slice(0, 120)}`);
      if (res.status === 409 && body.includes("CALLBACK_NOT_AWAITED") && left > 0) {
        await new Promise((ok) => setTimeout(ok, 20));
        await callBack(r, cb, left - 1);
      }
    };
    const push = startReceiver([wh], (r) => {
      setTimeout(() => void callBack(r, signedCallback(r, wh)), 0);
      return new Response(null, { status: 202 });
    });
    try {
      await withTestDatabase(async (db) => {
        const sluice = await startSluice(db, {
          token: TOKEN,
          ...(cwd ? { cwd, program: ["run", "-A", "--no-config", `${cwd}/sluice.js`] } : {}),
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
            OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
            OTEL_EXPORTER_OTLP_HEADERS: "authorization=Basic%20c2VjcmV0,x-tenant=t1",
            OTEL_METRIC_EXPORT_INTERVAL: "300",
            OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
            SLUICE_SIGNING_SECRETS: SECRET,
            SLUICE_DELIVERY_ALLOW: "127.0.0.1/32",
            SLUICE_LOG_LEVEL: "info",
          },
        });
        sluiceBase = sluice.base;
        try {
          const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
          const q = await fetch(`${sluice.base}/v1/queues`, {
            method: "POST",
            headers: auth,
            body: JSON.stringify({ name: "hooks", delivery: { mode: "http", url: push.url } }),
          });
          equal(q.status, 201, await q.text());
          const traceId = hex(16);
          const callerSpan = hex(8);
          const res = await fetch(`${sluice.base}/v1/jobs`, {
            method: "POST",
            headers: { ...auth, traceparent: `00-${traceId}-${callerSpan}-01` },
            body: JSON.stringify({ queue: "hooks", kind: "mail.send", timeout: "30s" }),
          });
          equal(res.status, 201);
          const { job } = await res.json();
          await waitFor(async () => {
            const r = await fetch(`${sluice.base}/v1/jobs/${job.id}`, { headers: auth });
            return (await r.json()).job?.state === "succeeded";
          }, {
            timeoutMs: 20_000,
            what: () =>
              `the job to succeed by callback (callbacks answered: ${answers.join("; ")})`,
          });

          const ofTrace = () => otlp.spans.filter((s) => s.traceId === traceId);
          const named = (name: string) => ofTrace().find((s) => s.name === name);
          // The settle span of the applied callback: one refused with CALLBACK_NOT_AWAITED before
          // it (see the receiver) is an error span of its own.
          const appliedSettle = () =>
            ofTrace().find((s) => s.name === "settle" && s.status.code !== 2);
          await otlp.waitFor(
            () => appliedSettle() !== undefined && named("POST /v1/callbacks") !== undefined,
            "the callback's spans",
          );
          const server = named("POST /v1/jobs")!;
          const send = named("send hooks")!;
          const process = named("process hooks")!;
          const post = named("POST")!;
          const settle = appliedSettle()!;
          // The request that was applied (an earlier one may have met CALLBACK_NOT_AWAITED).
          const callback = ofTrace().find((s) =>
            s.name === "POST /v1/callbacks" && s.spanId === settle?.parentSpanId
          )!;
          for (
            const [what, s] of Object.entries({ server, send, process, post, callback, settle })
          ) {
            assert(s, `${what} span in the trace (got ${ofTrace().map((x) => x.name)})`);
          }

          // The chain: caller → request → send → process → POST → callback request → settle.
          equal(server.parentSpanId, callerSpan);
          equal(server.kind, SERVER);
          equal(server.attributes["http.route"], "/v1/jobs");
          equal(server.attributes["http.response.status_code"], 201);
          equal(send.parentSpanId, server.spanId);
          equal(send.kind, PRODUCER);
          equal(send.attributes["messaging.system"], "sluice");
          equal(send.attributes["messaging.destination.name"], "hooks");
          equal(send.attributes["messaging.message.id"], job.id);
          equal(process.parentSpanId, send.spanId, "the attempt is a child of the enqueue");
          equal(process.kind, CONSUMER);
          equal(process.attributes["messaging.message.id"], job.id);
          equal(process.attributes["sluice.job.attempt"], 1);
          equal(process.attributes["sluice.outcome"], "awaiting_callback");
          const receive = otlp.spans.find((s) => s.name === "receive hooks")!;
          assert(receive, "a lease batch span");
          deepEqual(process.links, [{ traceId: receive.traceId, spanId: receive.spanId }]);
          equal(post.parentSpanId, process.spanId);
          equal(post.kind, CLIENT);
          equal(post.attributes["http.response.status_code"], 202);
          equal(callback.parentSpanId, post.spanId, "the callback joins the push's trace");
          equal(settle.parentSpanId, callback.spanId);
          equal(settle.attributes["messaging.message.id"], job.id);
          equal(settle.attributes["sluice.job.state"], "succeeded");

          // The push receiver saw the POST span's context.
          const pushed = push.received.find((r) => r.headers["sluice-job-id"] === job.id)!;
          equal(pushed.headers["traceparent"], `00-${traceId}-${post.spanId}-01`);

          // Resource and credentials.
          equal(server.resource["service.name"], "sluice-up");
          equal(server.resource["deployment.environment"], "test");
          const tracesReq = otlp.requests.find((r) => r.path === "/v1/traces")!;
          equal(tracesReq.headers.get("authorization"), "Basic c2VjcmV0");
          equal(tracesReq.headers.get("x-tenant"), "t1");
          assert(
            tracesReq.contentType.startsWith(
              protocol === "http/json" ? "application/json" : "application/x-protobuf",
            ),
          );

          // Logs: the callback's line, with the settle span's ids, over OTLP and on stdout.
          await otlp.waitFor(
            () => otlp.logs.some((l) => l.body === "callback_applied"),
            "the callback_applied log record",
          );
          const applied = otlp.logs.find((l) => l.body === "callback_applied")!;
          equal(applied.traceId, traceId);
          equal(applied.spanId, settle.spanId);
          equal(applied.severityText, "INFO");
          equal(applied.attributes["job_id"], job.id);
          const line = sluice.logs.join("").split("\n").find((l) =>
            l.includes('"callback_applied"')
          );
          assert(line, "callback_applied on stdout");
          const parsed = JSON.parse(line);
          equal(parsed.trace_id, traceId);
          equal(parsed.span_id, settle.spanId);

          // Metrics: the /metrics/prom series, with the job counted.
          await otlp.waitFor(
            () =>
              otlp.metrics.some((m) =>
                m.name === "sluice_http_requests_total" &&
                m.points.some((p) => p.attributes.route === "/v1/jobs")
              ),
            "sluice_http_requests_total over OTLP",
          );
          const names = new Set(otlp.metrics.map((m) => m.name));
          for (
            const n of [
              "sluice_http_request_duration_seconds",
              "sluice_queue_depth",
              "sluice_otlp_exports_total",
            ]
          ) {
            assert(names.has(n), `${n} exported (got ${[...names].join(", ")})`);
          }
          const hist = otlp.metrics.find((m) => m.name === "sluice_http_request_duration_seconds")!;
          equal(hist.type, "histogram");

          // Exporter health in /health details and the Prometheus text.
          const health = await (await fetch(`${sluice.base}/health`, { headers: auth })).json();
          equal(health.telemetry.enabled, true);
          equal(health.telemetry.protocol, protocol);
          const traces = health.telemetry.signals.find((s: { signal: string }) =>
            s.signal === "traces"
          );
          assert(traces.exportsAttempted >= 1 && traces.itemsExported >= 6, JSON.stringify(traces));
          const prom = await (await fetch(`${sluice.base}/metrics/prom`, { headers: auth })).text();
          assert(/sluice_otlp_exports_total\{signal="traces"\} [1-9]/.test(prom), prom);
          assert(!sluice.logs.join("").includes("c2VjcmV0"), "the OTLP header never reaches a log");
        } finally {
          await sluice.stop();
        }
      });
    } finally {
      await push.close();
      await otlp.close();
      if (cwd) await Deno.remove(cwd, { recursive: true });
    }
  });
}
