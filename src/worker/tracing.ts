/**
 * The worker's spans: one per lease batch (`receive <queue>`) and one per attempt
 * (`process <queue>`, kind CONSUMER), with OpenTelemetry messaging attributes.
 *
 * Parent or link: the attempt span is a CHILD of the enqueue span stored with the job
 * (`trace_context`), and LINKS to its lease batch. Each attempt processes exactly one message, the
 * case where the messaging conventions allow the creation context as parent, and it gives the
 * operator one trace from `POST /v1/jobs` through every attempt, push and callback, which is what
 * triage opens; the batch, shared by many jobs of many traces, can only be a link.
 *
 * Only built when telemetry is on (WorkerOptions.tracing): with it off the worker's hot path
 * pays one `undefined` check per lease and per attempt.
 */
import { type Context, context, type Link, SpanKind, trace } from "@opentelemetry/api";
import type { Span, SpanContext } from "@opentelemetry/api";
import type { LeasedJob } from "../queue/job.ts";
import { contextFrom, failSpan, MESSAGING_SYSTEM, tracer } from "../obs/trace.ts";
import type { AttemptEvent } from "./attempt.ts";

/** Outcomes that make the attempt span an error span. */
const FAILED = new Set<AttemptEvent["status"]>(["failed", "timeout", "dead", "lost"]);

export class AttemptTracing {
  // Keyed by the leased job object (one per attempt), weakly: a job released unstarted or
  // dropped at shutdown leaves nothing behind.
  readonly #batches = new WeakMap<LeasedJob, SpanContext>();
  readonly #spans = new WeakMap<LeasedJob, Span>();

  /** A lease statement that returned jobs, started at `startMs` (epoch ms). */
  leased(queue: string, startMs: number, jobs: readonly LeasedJob[]): void {
    const span = tracer().startSpan(`receive ${queue}`, {
      kind: SpanKind.CONSUMER,
      startTime: startMs,
      attributes: {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "receive",
        "messaging.operation.name": "lease",
        "messaging.destination.name": queue,
        "messaging.batch.message_count": jobs.length,
      },
    }, context.active());
    const sc = span.spanContext();
    for (const job of jobs) this.#batches.set(job, sc);
    span.end();
  }

  /** Starts the attempt span; run the delivery inside the returned context. */
  begin(job: LeasedJob): Context {
    const parent = contextFrom(job.traceContext);
    const batch = this.#batches.get(job);
    const links: Link[] = batch ? [{ context: batch }] : [];
    const span = tracer().startSpan(`process ${job.queue}`, {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": job.queue,
        "messaging.message.id": job.id,
        "sluice.job.kind": job.kind,
        "sluice.job.attempt": job.attempt,
        "sluice.job.max_attempts": job.maxAttempts,
      },
    }, parent);
    this.#spans.set(job, span);
    return trace.setSpan(parent, span);
  }

  /** Ends the attempt's span with its outcome (the worker's onAttempt event). */
  end(e: AttemptEvent): void {
    const span = this.#spans.get(e.job);
    if (!span) return;
    this.#spans.delete(e.job);
    span.setAttribute("sluice.outcome", e.status);
    if (FAILED.has(e.status)) failSpan(span, e.code ?? e.status.toUpperCase());
    span.end();
  }
}
