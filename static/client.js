// @ts-check
// The typed API client of the ops page. Every call goes through `api()`, which sends the CSRF
// header on state-changing requests and turns `{"error":{code,message}}` into an ApiError.
// The shapes below are the server's (src/api/schemas.ts); tests/opspage/client_contract_test.ts
// checks every route and field the page reads against /v1/openapi.json, so a drift fails a
// test instead of being papered over here.

/** @typedef {"scheduled"|"available"|"running"|"retrying"|"succeeded"|"dead"|"cancelled"} JobState */
/** @typedef {Record<string, number>} StateCounts */
/**
 * @typedef {{ id: string, queue: string, kind: string, state: JobState, payload: unknown,
 *   priority: number, attempt: number, maxAttempts: number, runAt: string, createdAt: string,
 *   startedAt: string|null, finishedAt: string|null, leaseExpiresAt: string|null,
 *   workerId: string|null, deadReason: string|null,
 *   lastError: {code: string, message: string, at: string}|null,
 *   errors: Record<string, unknown>[], result: unknown, retryOf: string|null,
 *   idempotencyKey: string|null, tags: string[] }} Job
 */
/**
 * @typedef {{ mode: string, command?: string|string[], url?: string }} Delivery
 * @typedef {{ name: string, paused: boolean, concurrency: number|null,
 *   rateLimit: {count: number, per: string}|null, maxPayloadBytes: number|null,
 *   maxEnqueuePerMinute: number|null, maxQueueSize: number|null, maxAttempts: number,
 *   backoff: {base: string, max: string}, timeout: string|null, retention: string|null,
 *   delivery: Delivery }} Queue
 * @typedef {Queue & { counts: StateCounts, oldestWaitingMs: number|null,
 *   oldestWaitingAt: string|null }} CountedQueue
 * @typedef {{ jobsPerMinute: number, failurePercent: number|null, p95WaitMs: number|null }} Rates
 * @typedef {{ signal: string, exportsFailed: number, itemsExported: number,
 *   itemsDropped: number, lastSuccessAt: string|null,
 *   lastError: {message: string, at: string}|null }} SignalHealth
 * @typedef {{ status: string, reasons: string[], totals: Rates,
 *   queues: {name: string, rates: Rates}[],
 *   workers: {id: string, stalled: string|null}[],
 *   telemetry: {enabled: boolean, protocol: string|null, signals: SignalHealth[]} }} OpsQueues
 * @typedef {{ id: string, kind: string, state: string, queues: string[], concurrency: number,
 *   runningJobIds: string[], heldJobIds: string[], lastSeenAt: string, startedAt: string,
 *   version: string }} Worker
 * @typedef {{ name: string, subject: string|null, value: number|null,
 *   threshold: number|null, firedAt: string|null, pendingSince: string|null }} Alert
 * @typedef {{ at: string, succeeded: number, dead: number, failed: number }} Bucket
 * @typedef {{ at: string, waiting: number, running: number, succeeded: number,
 *   dead: number }} HistoryPoint
 * @typedef {{ windowMs: number, bucketMs: number,
 *   queues: {name: string, points: HistoryPoint[]}[] }} History
 * @typedef {{ at: string, event: string, attempt: number, workerId: string|null,
 *   detail: Record<string, unknown> }} TimelineEvent
 * @typedef {{ code: string, sentence: string, facts: Record<string, unknown> }} Explain
 * @typedef {{ jobId: string, newJobId: string, queue: string, reason: string }} Replayed
 * @typedef {{ queue: string, reason: string, count: number, unreplayed: number }} DlqGroup
 * @typedef {{ replayed: Replayed[], count: number, remaining: number, skipped: string[],
 *   more: boolean }} ReplayResult
 * @typedef {{ name: string, cron: string, timezone: string|null, queue: string, kind: string,
 *   paused: boolean, nextSlot: string|null, lastJobId: string|null,
 *   lastFiredAt: string|null, lastError: string|null, failingSince: string|null }} Schedule
 * @typedef {{ origin: string, state: string, consecutiveFailures: number,
 *   windowFailures: number, openedAt: string|null, openUntil: string|null,
 *   lastFailure: string|null }} Circuit
 * @typedef {{ id: string, at: string, queue: string, code: string, detail: unknown,
 *   tokenName: string|null }} Decision
 * @typedef {{ name: string, scope: string, csrfToken: string, expiresAt: string }} Session
 * @typedef {{ count: number, upTo: string|null, capped: boolean }} JobCount
 * @typedef {{ action: "cancel"|"retry"|"discard", count: number, jobIds: string[],
 *   retried: {jobId: string, newJobId: string}[] }} BulkResult
 * @typedef {{ id: string, name: string, scope: string, createdAt: string,
 *   lastUsedAt: string|null, revokedAt: string|null }} Token
 * @typedef {{ id: string, name: string, issuer: string, subject: string|null,
 *   email: string|null, scope: string, createdAt: string, lastUsedAt: string|null,
 *   revokedAt: string|null }} Identity
 */

export const STATES = /** @type {JobState[]} */ ([
  "blocked",
  "scheduled",
  "available",
  "running",
  "retrying",
  "succeeded",
  "dead",
  "cancelled",
]);
/** The token and identity scopes, weakest first (src/auth/scope.ts). */
export const SCOPES = ["read", "producer", "worker", "admin"];
export const WAITING = /** @type {JobState[]} */ (["scheduled", "available", "retrying"]);

/**
 * Every route the page calls with the response fields it reads (top level; `items` for the
 * fields of each element of the first array field). The contract test walks this table.
 * @type {{ method: string, path: string, fields: string[], items?: string[] }[]}
 */
export const ROUTES = [
  { method: "GET", path: "/v1/session", fields: ["name", "scope", "csrfToken"] },
  { method: "POST", path: "/v1/session", fields: ["name", "scope", "csrfToken"] },
  {
    method: "GET",
    path: "/v1/queues",
    fields: ["queues"],
    items: ["name", "paused", "counts", "oldestWaitingMs", "oldestWaitingAt"],
  },
  {
    method: "GET",
    path: "/v1/queues/{name}",
    fields: ["queue", "counts"],
  },
  { method: "PATCH", path: "/v1/queues/{name}", fields: ["queue"] },
  { method: "POST", path: "/v1/queues/{name}/pause", fields: ["queue"] },
  { method: "POST", path: "/v1/queues/{name}/resume", fields: ["queue"] },
  { method: "POST", path: "/v1/queues/{name}/drain", fields: ["drained", "counts"] },
  {
    method: "GET",
    path: "/v1/ops/queues",
    // `items` are checked on the first list field: the queues.
    fields: ["queues", "status", "reasons", "totals", "workers", "telemetry"],
    items: ["name", "rates"],
  },
  { method: "GET", path: "/v1/ops/alerts", fields: ["firing", "pending"] },
  {
    method: "GET",
    path: "/v1/ops/history",
    fields: ["queues", "windowMs", "bucketMs"],
    items: ["name", "points"],
  },
  {
    method: "GET",
    path: "/v1/stats/throughput",
    fields: ["buckets"],
    items: ["at", "succeeded", "dead", "failed"],
  },
  {
    method: "GET",
    path: "/v1/jobs",
    fields: ["jobs", "nextCursor"],
    items: ["id", "queue", "kind", "state", "attempt", "maxAttempts", "lastError", "createdAt"],
  },
  { method: "GET", path: "/v1/jobs/count", fields: ["count", "upTo", "capped"] },
  {
    method: "POST",
    path: "/v1/jobs/bulk",
    fields: ["action", "count", "jobIds", "retried"],
  },
  { method: "POST", path: "/v1/jobs/{id}/run-now", fields: ["job"] },
  { method: "GET", path: "/v1/jobs/{id}", fields: ["job"] },
  {
    method: "GET",
    path: "/v1/jobs/{id}/timeline",
    fields: ["timeline"],
    items: ["at", "event", "attempt", "workerId", "detail"],
  },
  { method: "GET", path: "/v1/jobs/{id}/explain", fields: ["code", "sentence", "facts"] },
  { method: "POST", path: "/v1/jobs/{id}/retry", fields: ["job"] },
  { method: "POST", path: "/v1/jobs/{id}/replay", fields: ["job"] },
  { method: "POST", path: "/v1/jobs/{id}/cancel", fields: ["job"] },
  { method: "GET", path: "/v1/dlq", fields: ["jobs", "counts", "nextCursor", "replays"] },
  {
    method: "GET",
    path: "/v1/dlq/groups",
    fields: ["groups"],
    items: ["queue", "reason", "count", "unreplayed"],
  },
  {
    method: "POST",
    path: "/v1/dlq/replay",
    fields: ["replayed", "count", "skipped", "more"],
    items: ["jobId", "newJobId"],
  },
  {
    method: "GET",
    path: "/v1/workers",
    fields: ["workers"],
    items: [
      "id",
      "kind",
      "state",
      "queues",
      "concurrency",
      "runningJobIds",
      "heldJobIds",
      "lastSeenAt",
      "startedAt",
      "version",
      "quietRequestedAt",
      "stalled",
    ],
  },
  { method: "POST", path: "/v1/workers/{id}/quiet", fields: ["worker"] },
  {
    method: "GET",
    path: "/v1/tokens",
    fields: ["tokens"],
    items: ["name", "scope", "createdAt", "lastUsedAt", "revokedAt"],
  },
  { method: "POST", path: "/v1/tokens", fields: ["token", "secret"] },
  {
    method: "GET",
    path: "/v1/identities",
    fields: ["issuer", "identities"],
    items: ["id", "name", "issuer", "subject", "email", "scope", "lastUsedAt", "revokedAt"],
  },
  { method: "POST", path: "/v1/identities", fields: ["identity"] },
  { method: "DELETE", path: "/v1/identities/{id}", fields: ["identity"] },
  { method: "POST", path: "/v1/tokens/{name}/revoke", fields: ["token"] },
  { method: "POST", path: "/v1/schedules/{name}/run", fields: ["schedule", "jobId"] },
  {
    method: "GET",
    path: "/v1/schedules",
    fields: ["schedules"],
    items: ["name", "cron", "timezone", "queue", "kind", "paused", "nextSlot", "lastFiredAt"],
  },
  { method: "POST", path: "/v1/schedules", fields: ["schedule"] },
  { method: "POST", path: "/v1/schedules/{name}/pause", fields: ["schedule"] },
  { method: "POST", path: "/v1/schedules/{name}/resume", fields: ["schedule"] },
  { method: "DELETE", path: "/v1/schedules/{name}", fields: ["deleted"] },
  {
    method: "GET",
    path: "/v1/topics",
    fields: ["topics", "subscriptions"],
    items: ["name", "queues"],
  },
  {
    method: "GET",
    path: "/v1/circuits",
    fields: ["circuits"],
    items: ["origin", "state", "consecutiveFailures", "windowFailures", "openedAt", "openUntil"],
  },
  // Workflows and batches (view_workflows.js, view_batches.js). Their detail routes take a
  // workflow or batch id, so the read step below cannot fill them with a job id.
  {
    method: "GET",
    path: "/v1/workflows",
    fields: ["workflows", "nextCursor"],
    items: ["id", "name", "state", "counts", "createdAt"],
  },
  { method: "POST", path: "/v1/workflows/{id}/cancel", fields: ["workflow"] },
  {
    method: "GET",
    path: "/v1/batches",
    fields: ["batches", "nextCursor"],
    items: [
      "id",
      "name",
      "state",
      "total",
      "finished",
      "percent",
      "counts",
      "callbacks",
      "callbackJobs",
      "createdAt",
    ],
  },
  {
    method: "GET",
    path: "/v1/ingest/decisions",
    fields: ["decisions", "nextCursor"],
    items: ["at", "queue", "code", "detail", "tokenName"],
  },
];

export class ApiError extends Error {
  /**
   * @param {number} status 0 when the API did not answer at all
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** The signed-in session; `csrfToken` goes on every state-changing request. */
export const session = {
  /** @type {string|null} */ name: null,
  /** @type {string|null} */ scope: null,
  /** @type {string|null} */ csrfToken: null,
};
export const canMutate = () => session.scope === "admin";

/** @type {(err: ApiError) => void} */
let unauthorized = () => {};
/** Called when any call but /v1/session answers 401: the session ended under the page. */
export function onUnauthorized(/** @type {(err: ApiError) => void} */ fn) {
  unauthorized = fn;
}

/** @param {Record<string, unknown>} params */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

/**
 * @template T
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<T>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && session.csrfToken) headers["x-csrf-token"] = session.csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "NETWORK_ERROR", `the API did not answer (${errorText(e)})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error;
    const e = new ApiError(
      res.status,
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? (text.slice(0, 200) || res.statusText),
      err?.details,
    );
    // A 401 from /v1/session itself is a failed sign-in, not a session ending.
    const pathname = path.replace(/^https?:\/\/[^/]+/, "");
    if (res.status === 401 && !pathname.startsWith("/v1/session")) unauthorized(e);
    throw e;
  }
  return data;
}

/** @param {unknown} e */
function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}

const enc = encodeURIComponent;

/** Typed calls, one per route the page uses. */
export const client = {
  session: () => api("GET", "/v1/session").then((s) => /** @type {Session} */ (s)),
  signIn: (/** @type {string} */ token) =>
    api("POST", "/v1/session", { token }).then((s) => /** @type {Session} */ (s)),
  signOut: () => api("DELETE", "/v1/session"),
  queues: () =>
    api("GET", "/v1/queues").then((
      r,
    ) => /** @type {{queues: CountedQueue[], finishedCountedAt: string|null}} */ (r)),
  queue: (/** @type {string} */ name) =>
    api("GET", `/v1/queues/${enc(name)}`).then((
      r,
    ) => /** @type {{queue: Queue, counts: StateCounts}} */ (r)),
  patchQueue: (/** @type {string} */ name, /** @type {Record<string, unknown>} */ patch) =>
    api("PATCH", `/v1/queues/${enc(name)}`, patch),
  queueAction: (/** @type {string} */ name, /** @type {"pause"|"resume"|"drain"} */ verb) =>
    api("POST", `/v1/queues/${enc(name)}/${verb}`).then((
      r,
    ) => /** @type {{queue: Queue, counts: StateCounts, drained?: boolean}} */ (r)),
  opsQueues: () => api("GET", "/v1/ops/queues").then((r) => /** @type {OpsQueues} */ (r)),
  alerts: () =>
    api("GET", "/v1/ops/alerts").then((
      r,
    ) => /** @type {{firing: Alert[], pending: Alert[]}} */ (r)),
  history: (/** @type {"1h"|"24h"} */ window) =>
    api("GET", `/v1/ops/history?window=${window}`).then((r) => /** @type {History} */ (r)),
  throughput: () =>
    api("GET", "/v1/stats/throughput?window=1h").then((
      r,
    ) => /** @type {{buckets: Bucket[]}} */ (r)),
  jobs: (/** @type {Record<string, unknown>} */ filter) =>
    api("GET", `/v1/jobs${qs(filter)}`).then((
      r,
    ) => /** @type {{jobs: Job[], nextCursor: string|null}} */ (r)),
  countJobs: (/** @type {Record<string, unknown>} */ filter) =>
    api("GET", `/v1/jobs/count${qs(filter)}`).then((r) => /** @type {JobCount} */ (r)),
  bulk: (
    /** @type {{action: "cancel"|"retry"|"discard", filter?: Record<string, unknown>, ids?: string[]}} */ body,
  ) => api("POST", "/v1/jobs/bulk", body).then((r) => /** @type {BulkResult} */ (r)),
  runNow: (/** @type {string} */ id) =>
    api("POST", `/v1/jobs/${enc(id)}/run-now`).then((r) => /** @type {{job: Job}} */ (r)),
  job: (/** @type {string} */ id) =>
    api("GET", `/v1/jobs/${enc(id)}`).then((r) => /** @type {{job: Job}} */ (r)),
  timeline: (/** @type {string} */ id) =>
    api("GET", `/v1/jobs/${enc(id)}/timeline`).then((
      r,
    ) => /** @type {{timeline: TimelineEvent[]}} */ (r)),
  explain: (/** @type {string} */ id) =>
    api("GET", `/v1/jobs/${enc(id)}/explain`).then((r) => /** @type {Explain} */ (r)),
  jobAction: (/** @type {string} */ id, /** @type {"retry"|"replay"|"cancel"} */ verb) =>
    api("POST", `/v1/jobs/${enc(id)}/${verb}`).then((r) => /** @type {{job: Job}} */ (r)),
  dlq: (/** @type {Record<string, unknown>} */ filter) =>
    api("GET", `/v1/dlq${qs(filter)}`).then((
      r,
    ) => /** @type {{jobs: Job[], counts: Record<string, number>, nextCursor: string|null, replays: Record<string, string>}} */ (
      r
    )),
  dlqGroups: () =>
    api("GET", "/v1/dlq/groups").then((r) => /** @type {{groups: DlqGroup[]}} */ (r)),
  replay: (/** @type {{ids?: string[], queue?: string, reason?: string}} */ body) =>
    api("POST", "/v1/dlq/replay", body).then((r) => /** @type {ReplayResult} */ (r)),
  workers: () => api("GET", "/v1/workers").then((r) => /** @type {{workers: Worker[]}} */ (r)),
  quietWorker: (/** @type {string} */ id) =>
    api("POST", `/v1/workers/${enc(id)}/quiet`).then((r) => /** @type {{worker: Worker}} */ (r)),
  tokens: () => api("GET", "/v1/tokens").then((r) => /** @type {{tokens: Token[]}} */ (r)),
  createToken: (/** @type {{name: string, scope: string}} */ body) =>
    api("POST", "/v1/tokens", body).then((r) => /** @type {{token: Token, secret: string}} */ (r)),
  revokeToken: (/** @type {string} */ name) =>
    api("POST", `/v1/tokens/${enc(name)}/revoke`).then((r) => /** @type {{token: Token}} */ (r)),
  identities: () =>
    api("GET", "/v1/identities").then((
      r,
    ) => /** @type {{issuer: string|null, identities: Identity[]}} */ (r)),
  addIdentity: (/** @type {Record<string, string>} */ body) =>
    api("POST", "/v1/identities", body).then((r) => /** @type {{identity: Identity}} */ (r)),
  revokeIdentity: (/** @type {string} */ id) =>
    api("DELETE", `/v1/identities/${enc(id)}`).then((
      r,
    ) => /** @type {{identity: Identity}} */ (r)),
  runSchedule: (/** @type {string} */ name) =>
    api("POST", `/v1/schedules/${enc(name)}/run`).then((
      r,
    ) => /** @type {{schedule: Schedule, jobId: string}} */ (r)),
  schedules: () =>
    api("GET", "/v1/schedules").then((r) => /** @type {{schedules: Schedule[]}} */ (r)),
  createSchedule: (/** @type {Record<string, unknown>} */ body) =>
    api("POST", "/v1/schedules", body),
  scheduleAction: (/** @type {string} */ name, /** @type {"pause"|"resume"} */ verb) =>
    api("POST", `/v1/schedules/${enc(name)}/${verb}`),
  deleteSchedule: (/** @type {string} */ name) => api("DELETE", `/v1/schedules/${enc(name)}`),
  topics: () =>
    api("GET", "/v1/topics").then((
      r,
    ) => /** @type {{topics: {name: string, queues: string[]}[], subscriptions: {topic: string, queue: string, createdAt: string}[]}} */ (r)),
  circuits: () => api("GET", "/v1/circuits").then((r) => /** @type {{circuits: Circuit[]}} */ (r)),
  workflows: (/** @type {Record<string, unknown>} */ filter) =>
    api("GET", `/v1/workflows${qs(filter)}`),
  workflow: (/** @type {string} */ id) => api("GET", `/v1/workflows/${enc(id)}`),
  cancelWorkflow: (/** @type {string} */ id) => api("POST", `/v1/workflows/${enc(id)}/cancel`),
  batches: (/** @type {Record<string, unknown>} */ filter) =>
    api("GET", `/v1/batches${qs(filter)}`),
  decisions: (/** @type {Record<string, unknown>} */ filter) =>
    api("GET", `/v1/ingest/decisions${qs(filter)}`).then((
      r,
    ) => /** @type {{decisions: Decision[], nextCursor: string|null}} */ (r)),
};
