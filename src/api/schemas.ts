/**
 * The zod schemas of the API: they validate requests and generate `/v1/openapi.json`, and the
 * mappers turn engine values into the resource shapes of DESIGN.md "Shapes".
 */
import { z } from "@hono/zod-openapi";
import { parseDuration, showDuration } from "../config/parse.ts";
import { SluiceError } from "../errors.ts";
import {
  type DependentInput,
  MAX_PARENTS,
  PARENT_FAILURE_POLICIES,
} from "../queue/dependencies.ts";
import { type Job, JOB_STATES } from "../queue/job.ts";
import { redactDelivery } from "../delivery/redact.ts";
import type { Delivery, EffectivePolicy, Queue, QueuePolicy } from "../queue/queues.ts";

export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ example: "VALIDATION_FAILED" }),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
}).openapi("Error");

/** A time PostgreSQL can store: it has no year 0, and JavaScript's range goes far beyond 9999. */
export function inTimestampRange(d: Date): boolean {
  const y = d.getUTCFullYear();
  return !Number.isNaN(d.getTime()) && y >= 1 && y <= 9999;
}

const Duration = z.string().max(32).openapi({
  example: "30s",
  description: "500ms, 15s, 5m, 2h, 7d",
});
const Id = z.string().openapi({ example: "42", description: "a job id: a string of digits" });

export const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

export const JobSchema = z.object({
  id: Id,
  queue: z.string(),
  kind: z.string(),
  state: z.enum(JOB_STATES),
  payload: z.unknown(),
  priority: z.number().int(),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  timeout: z.string().nullable(),
  runAt: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  leaseExpiresAt: z.string().nullable(),
  workerId: z.string().nullable(),
  deadReason: z.string().nullable(),
  lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
  errors: z.array(z.record(z.string(), z.unknown())),
  result: z.unknown(),
  retryOf: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  tags: z.array(z.string()),
  createdBy: z.string().nullable(),
  cancelRequested: z.boolean(),
  concurrencyKey: z.string().nullable(),
  composition: z.object({
    parentsPending: z.number().int().nullable(),
    onParentFailure: z.string().nullable(),
    releasedAt: z.string().nullable(),
    workflowId: z.string().nullable(),
    workflowKey: z.string().nullable(),
    batchId: z.string().nullable(),
  }).nullable().openapi({ description: "parents, workflow and batch; null for none" }),
}).openapi("Job");

export type JobResource = z.infer<typeof JobSchema>;

const isoTime = (what: string) =>
  z.iso.datetime({ offset: true }).optional().openapi({ description: what });

/** The job search filter (src/queue/job_filter.ts), shared by the list, count and bulk routes. */
export const JobFilterQuery = z.strictObject({
  queue: z.string().optional().openapi({ description: "an unknown queue answers 404" }),
  state: z.enum(JOB_STATES).optional(),
  kind: z.string().optional().openapi({ description: "exactly this kind" }),
  kindPrefix: z.string().min(1).optional().openapi({
    description: "kinds starting with this text",
    example: "report.",
  }),
  tag: z.string().optional(),
  reason: z.string().optional().openapi({ description: "a dead job's reason" }),
  payload: z.string().min(1).optional().openapi({
    description: 'JSON containment ({"customer":{"id":42}}) or path = value (customer.id=42)',
    example: "customer.id=42",
  }),
  createdAfter: isoTime("created at or after this time"),
  createdBefore: isoTime("created before this time"),
  retryOf: z.string().optional(),
});

export const JobCount = z.object({
  count: z.number().int(),
  capped: z.boolean().openapi({ description: "more jobs than count match (count is the cap)" }),
  upTo: Id.nullable().openapi({
    description: "the newest matching id: pass to a bulk action to leave newer jobs alone",
  }),
});

export function jobResource(j: Job): JobResource {
  return {
    id: j.id,
    queue: j.queue,
    kind: j.kind,
    state: j.state,
    payload: j.payload,
    priority: j.priority,
    attempt: j.attempt,
    maxAttempts: j.maxAttempts,
    timeout: j.timeoutMs === null ? null : showDuration(j.timeoutMs),
    runAt: j.runAt,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    leaseExpiresAt: j.leaseExpiresAt,
    workerId: j.workerId,
    deadReason: j.deadReason,
    lastError: j.lastError,
    errors: j.errors as unknown as Record<string, unknown>[],
    result: j.result,
    retryOf: j.retryOf,
    idempotencyKey: j.idempotencyKey,
    tags: j.tags,
    createdBy: j.createdBy,
    cancelRequested: j.cancelRequested,
    concurrencyKey: j.concurrencyKey,
    composition: j.composition,
  };
}

export const EnqueueBody = z.strictObject({
  queue: z.string().optional().openapi({ example: "emails", description: "default: default" }),
  kind: z.string().openapi({ example: "email.send" }),
  payload: z.unknown().optional().openapi({
    example: { to: "a@b.c" },
    description: "a JSON object or array; default {}",
  }),
  priority: z.number().int().optional().openapi({ description: "higher runs first; default 0" }),
  runAt: z.string().optional().openapi({ example: "2026-01-01T00:00:00Z" }),
  delay: Duration.optional(),
  maxAttempts: z.number().int().optional(),
  timeout: Duration.optional(),
  idempotencyKey: z.string().optional().openapi({ example: "order-42" }),
  tags: z.array(z.string()).optional().openapi({ example: ["tenant:7"] }),
  concurrencyKey: z.string().optional().openapi({
    example: "tenant:7",
    description: "counts against the queue's keyConcurrency: at most N running per key",
  }),
  throttle: z.strictObject({ key: z.string(), per: Duration }).optional().openapi({
    example: { key: "user:9", per: "1m" },
    description:
      "at most one job per key per window; a later enqueue in the window answers 200 with the window's job (duplicate: true)",
  }),
  debounce: z.strictObject({ key: z.string(), delay: Duration }).optional().openapi({
    example: { key: "doc:3", delay: "30s" },
    description:
      "one job after a quiet period: an enqueue while the key's job waits replaces its payload and runs it `delay` from now (200, duplicate: true)",
  }),
  dependsOn: z.array(z.string()).max(MAX_PARENTS).optional().openapi({
    example: ["41", "43"],
    description: "ids of jobs that must succeed first; the job stays blocked until then",
  }),
  onParentFailure: z.enum(PARENT_FAILURE_POLICIES).optional().openapi({
    description: "a parent ended dead or cancelled: cancel this job (default, PARENT_FAILED), " +
      "run it anyway, or wait until the parent is replayed and succeeds",
  }),
}).openapi("EnqueueRequest");

export type EnqueueBodyType = z.infer<typeof EnqueueBody>;

/** A duration field of a request: "30s" → ms, or VALIDATION_FAILED naming the field. */
export function durationField(field: string, raw: string): number {
  const ms = parseDuration(raw);
  if (ms === null) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `'${field}': ${JSON.stringify(raw)} is not a duration (use e.g. 500ms, 15s, 5m)`,
      { issues: [{ path: field, message: "not a duration", code: "invalid_format" }] },
    );
  }
  return ms;
}

export function toEnqueueInput(
  b: EnqueueBodyType,
  createdBy: string,
  index?: number,
): DependentInput {
  const at = (f: string) => (index === undefined ? f : `jobs.${index}.${f}`);
  return {
    queue: b.queue,
    kind: b.kind,
    payload: b.payload,
    priority: b.priority,
    runAt: b.runAt,
    delayMs: b.delay === undefined ? undefined : durationField(at("delay"), b.delay),
    maxAttempts: b.maxAttempts,
    timeoutMs: b.timeout === undefined ? undefined : durationField(at("timeout"), b.timeout),
    idempotencyKey: b.idempotencyKey,
    tags: b.tags,
    createdBy,
    concurrencyKey: b.concurrencyKey,
    throttle: b.throttle && {
      key: b.throttle.key,
      perMs: durationField(at("throttle.per"), b.throttle.per),
    },
    debounce: b.debounce && {
      key: b.debounce.key,
      delayMs: durationField(at("debounce.delay"), b.debounce.delay),
    },
    ...(b.dependsOn ? { dependsOn: b.dependsOn } : {}),
    ...(b.onParentFailure ? { onParentFailure: b.onParentFailure } : {}),
  };
}

const DeliveryBody = z.strictObject({
  mode: z.enum(["inline", "exec", "http", "pull"]),
  command: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
  url: z.string().url().optional(),
  timeout: Duration.optional(),
  oidcAudience: z.string().min(1).max(512).optional().openapi({
    description:
      "http only: each push carries 'Authorization: Bearer <ID token>' with this aud, signed by Sluice (keys at /.well-known/jwks.json)",
  }),
});

const policyFields = {
  paused: z.boolean().optional(),
  concurrency: z.number().int().min(1).max(100_000).nullable().optional(),
  keyConcurrency: z.number().int().min(1).max(100_000).nullable().optional().openapi({
    description: "at most this many running jobs per concurrencyKey; null: no per-key limit",
  }),
  rateLimit: z.strictObject({ count: z.number().int().min(1), per: Duration }).nullable()
    .optional().openapi({ example: { count: 10, per: "1s" } }),
  maxPayloadBytes: z.number().int().min(1).nullable().optional(),
  maxEnqueuePerMinute: z.number().int().min(1).nullable().optional(),
  maxQueueSize: z.number().int().min(1).nullable().optional(),
  maxAttempts: z.number().int().min(1).max(1000).optional(),
  backoff: z.strictObject({ base: Duration, max: Duration }).optional(),
  timeout: Duration.nullable().optional(),
  retention: Duration.nullable().optional(),
  rejectWhenPaused: z.boolean().optional(),
  delivery: DeliveryBody.optional(),
};

export const QueueCreateBody = z.strictObject({ name: z.string(), ...policyFields })
  .openapi("QueueCreateRequest");
export const QueuePatchBody = z.strictObject(policyFields).openapi("QueuePatchRequest");
export type QueuePatchType = z.infer<typeof QueuePatchBody>;

/** A request's policy fields → the engine's `QueuePolicy` (ms numbers); omitted stays omitted. */
export function toQueuePolicy(b: QueuePatchType): QueuePolicy {
  const dur = (f: string, v: string | null | undefined) =>
    v === undefined ? undefined : v === null ? null : durationField(f, v);
  const p: QueuePolicy = {
    concurrency: b.concurrency,
    keyConcurrency: b.keyConcurrency,
    rateLimit: b.rateLimit === undefined ? undefined : b.rateLimit === null ? null : {
      count: b.rateLimit.count,
      perMs: positive("rateLimit.per", durationField("rateLimit.per", b.rateLimit.per)),
    },
    maxPayloadBytes: b.maxPayloadBytes,
    maxEnqueuePerMinute: b.maxEnqueuePerMinute,
    maxQueueSize: b.maxQueueSize,
    maxAttempts: b.maxAttempts,
    backoff: b.backoff && {
      baseMs: positive("backoff.base", durationField("backoff.base", b.backoff.base)),
      maxMs: positive("backoff.max", durationField("backoff.max", b.backoff.max)),
    },
    timeoutMs: dur("timeout", b.timeout),
    retentionMs: dur("retention", b.retention),
    rejectWhenPaused: b.rejectWhenPaused,
    delivery: b.delivery && toDelivery(b.delivery),
  };
  if (p.timeoutMs !== undefined && p.timeoutMs !== null) positive("timeout", p.timeoutMs);
  return p;
}

function positive(field: string, ms: number): number {
  if (ms <= 0) {
    throw new SluiceError("VALIDATION_FAILED", `'${field}' must be longer than 0`, {
      issues: [{ path: field, message: "must be longer than 0", code: "too_small" }],
    });
  }
  return ms;
}

function toDelivery(d: z.infer<typeof DeliveryBody>): Delivery {
  const need = (field: "command" | "url") => {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `'delivery.${field}' is required for mode '${d.mode}'`,
      { issues: [{ path: `delivery.${field}`, message: "required", code: "invalid_type" }] },
    );
  };
  const timeoutMs = d.timeout === undefined
    ? undefined
    : positive("delivery.timeout", durationField("delivery.timeout", d.timeout));
  switch (d.mode) {
    case "exec":
      return {
        mode: "exec",
        command: d.command ?? need("command"),
        ...(timeoutMs ? { timeoutMs } : {}),
      };
    case "http": {
      const url = d.url ?? need("url");
      if (!/^https?:\/\//i.test(url)) {
        throw new SluiceError("VALIDATION_FAILED", "'delivery.url' must be an http or https URL", {
          issues: [{ path: "delivery.url", message: "must be http(s)", code: "invalid_format" }],
        });
      }
      return {
        mode: "http",
        url,
        ...(timeoutMs ? { timeoutMs } : {}),
        ...(d.oidcAudience ? { oidcAudience: d.oidcAudience } : {}),
      };
    }
    default:
      return { mode: d.mode };
  }
}

const showOrNull = (ms: number | null) => (ms === null ? null : showDuration(ms));

/** A queue's effective policies as the API shows them (durations as text, env defaults filled). */
export const PolicySchema = z.object({
  concurrency: z.number().nullable(),
  keyConcurrency: z.number().nullable(),
  rateLimit: z.object({ count: z.number(), per: z.string() }).nullable(),
  maxPayloadBytes: z.number().nullable(),
  maxEnqueuePerMinute: z.number().nullable(),
  maxQueueSize: z.number().nullable(),
  maxAttempts: z.number(),
  backoff: z.object({ base: z.string(), max: z.string() }),
  timeout: z.string().nullable(),
  retention: z.string().nullable(),
  rejectWhenPaused: z.boolean(),
  delivery: z.object({
    mode: z.string(),
    command: z.union([z.string(), z.array(z.string())]).optional(),
    url: z.string().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    timeout: z.string().optional(),
    oidcAudience: z.string().optional(),
  }).openapi({
    description:
      "url, headers and command in full for admin tokens; for other scopes redacted (userinfo, query values and header values as ***, command as its program name and ***)",
  }),
}).openapi("Policy");

export const QueueSchema = z.object({
  name: z.string(),
  paused: z.boolean(),
  refusingNew: z.boolean().openapi({
    description: "drain --refuse-new: enqueues answer 409 QUEUE_DRAINING until resumed",
  }),
  ...PolicySchema.shape,
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Queue");

/**
 * The effective policies (env defaults filled in). The delivery's URL, headers and command may
 * hold credentials for the receiving end: only `revealSecrets` (an admin asking) shows them
 * whole, everyone else sees them redacted (src/delivery/redact.ts).
 */
export function policyResource(
  e: EffectivePolicy,
  revealSecrets = false,
): z.infer<typeof PolicySchema> {
  const d = revealSecrets ? e.delivery : redactDelivery(e.delivery);
  return {
    concurrency: e.concurrency,
    keyConcurrency: e.keyConcurrency,
    rateLimit: e.rateLimit && { count: e.rateLimit.count, per: showDuration(e.rateLimit.perMs) },
    maxPayloadBytes: e.maxPayloadBytes,
    maxEnqueuePerMinute: e.maxEnqueuePerMinute,
    maxQueueSize: e.maxQueueSize,
    maxAttempts: e.maxAttempts,
    backoff: { base: showDuration(e.backoff.baseMs), max: showDuration(e.backoff.maxMs) },
    timeout: showOrNull(e.timeoutMs),
    retention: showOrNull(e.retentionMs),
    rejectWhenPaused: e.rejectWhenPaused,
    delivery: {
      mode: d.mode,
      ...(d.mode === "exec" ? { command: d.command } : {}),
      ...(d.mode === "http"
        ? {
          url: d.url,
          ...(d.headers ? { headers: d.headers } : {}),
          ...(d.oidcAudience ? { oidcAudience: d.oidcAudience } : {}),
        }
        : {}),
      ...("timeoutMs" in d && d.timeoutMs !== undefined
        ? { timeout: showDuration(d.timeoutMs) }
        : {}),
    },
  };
}

export function queueResource(q: Queue, revealSecrets = false): z.infer<typeof QueueSchema> {
  return {
    name: q.name,
    paused: q.paused,
    refusingNew: q.effective.refuseNew,
    ...policyResource(q.effective, revealSecrets),
    createdAt: q.createdAt,
    updatedAt: q.updatedAt,
  };
}

export const CountsSchema = z.record(z.string(), z.number()).openapi("StateCounts");

/** Standard error responses for the OpenAPI document. */
export function errorResponses(...statuses: number[]) {
  const text: Record<number, string> = {
    400:
      "invalid input (VALIDATION_FAILED, MALFORMED_JSON, INVALID_QUEUE_NAME, INVALID_KIND, DESTINATION_DENIED)",
    401: "missing, invalid or revoked token",
    403: "the token's scope does not allow this",
    404: "not found (or not visible to this token)",
    409:
      "conflict (STALE_LEASE, NOT_RETRYABLE, NOT_CANCELLABLE, QUEUE_EXISTS, QUEUE_PAUSED, QUEUE_DRAINING, BATCH_CLOSED)",
    413: "PAYLOAD_TOO_LARGE or BATCH_TOO_LARGE",
    422: "PARENT_NOT_FOUND: a dependsOn parent does not exist or is not yours",
    415: "the body is not application/json",
    429: "RATE_LIMITED, ENQUEUE_RATE_EXCEEDED or QUEUE_FULL, with Retry-After",
  };
  return Object.fromEntries(
    [400, 401, 403, 429, ...statuses].map((s) => [s, {
      description: text[s] ?? "error",
      content: { "application/json": { schema: ErrorSchema } },
    }]),
  );
}

export function jsonContent<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export function jsonBodyOf<T extends z.ZodType>(schema: T) {
  return { body: { content: { "application/json": { schema } }, required: true } };
}
