/**
 * The enqueue span (messaging "send", kind PRODUCER): a child of the caller's active context (the
 * API request's server span, or a library user's own span), and the context every job of the
 * call stores in `trace_context`, so its attempts continue the same trace. One span per call, not
 * per job: a batch of 1,000 is one send operation (`messaging.batch.message_count`).
 */
import { context, SpanKind, trace } from "@opentelemetry/api";
import { isSluiceError } from "../errors.ts";
import { carrierOf, failSpan, MESSAGING_SYSTEM, tracer } from "../obs/trace.ts";

interface Named {
  queue?: string;
}

/** Runs `insert` inside the span; `traceContext` is the JSON text to store, null when off. */
export async function tracedEnqueue<R extends { job: { id: string }; duplicate: boolean }>(
  inputs: readonly Named[],
  insert: (traceContext: string | null) => Promise<R[]>,
): Promise<R[]> {
  const queues = [...new Set(inputs.map((i) => i.queue ?? "default"))];
  const single = queues.length === 1 ? queues[0]! : null;
  const span = tracer().startSpan(single ? `send ${single}` : "send", {
    kind: SpanKind.PRODUCER,
    attributes: {
      "messaging.system": MESSAGING_SYSTEM,
      "messaging.operation.type": "send",
      "messaging.operation.name": "send",
      ...(single ? { "messaging.destination.name": single } : {}),
      ...(inputs.length > 1 ? { "messaging.batch.message_count": inputs.length } : {}),
    },
  });
  // Telemetry off: the no-op span records nothing and nothing is stored with the jobs.
  if (!span.isRecording()) return await insert(null);
  const ctx = trace.setSpan(context.active(), span);
  const carrier = carrierOf(ctx);
  try {
    const results = await context.with(ctx, () => insert(carrier ? JSON.stringify(carrier) : null));
    if (results.length === 1) {
      span.setAttribute("messaging.message.id", results[0]!.job.id);
      if (results[0]!.duplicate) span.setAttribute("sluice.duplicate", true);
    }
    return results;
  } catch (e) {
    failSpan(span, isSluiceError(e) ? e.code : "INTERNAL", (e as Error).message);
    throw e;
  } finally {
    span.end();
  }
}
