import { atomically, type Db, type Tx } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { recordDebounced, upsertDebounced } from "./debounce.ts";
import { type DebounceInput, flowKey, flowOf, type ThrottleInput } from "./flow_input.ts";
import { getJob } from "./inspect.ts";
import { claimWindows, recordThrottled, recordWindowJobs } from "./throttle.ts";
import { tracedEnqueue } from "./enqueue_trace.ts";
import { type Job, type JobRow, toJob } from "./job.ts";
import { isStorableText, jsonValueProblem } from "./json_value.ts";
import { assertKind, assertQueueName } from "./names.ts";
import type { QueuePolicies } from "./policies.ts";
import {
  BUILTIN_DEFAULTS,
  type EngineDefaults,
  getQueues,
  type Queue,
  queueNotFound,
} from "./queues.ts";

export interface EnqueueInput {
  queue?: string;
  kind: string;
  payload?: unknown;
  /** Higher runs first. -32768..32767, default 0. */
  priority?: number;
  runAt?: Date | string;
  delayMs?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  idempotencyKey?: string;
  /**
   * Whose scope `idempotencyKey` lives in: the API passes the producer token's name, so one
   * producer's keys never meet another's. Absent, null or '' (admin tokens, library calls that
   * name no owner) is one shared scope. Not part of the Job.
   */
  owner?: string | null;
  tags?: string[];
  createdBy?: string | null;
  retryOf?: string | null;
  /** Counts against the queue's keyConcurrency (docs/flow-control.md). */
  concurrencyKey?: string | null;
  /** At most one job per key and window, in the owner's key space (src/queue/throttle.ts). */
  throttle?: ThrottleInput;
  /** One job per key after a quiet period (src/queue/debounce.ts). */
  debounce?: DebounceInput;
}

export interface EnqueueResult {
  job: Job;
  /** True when an unfinished job with the same idempotency key and owner already existed. */
  duplicate: boolean;
}

export interface EnqueueOptions {
  defaults?: EngineDefaults;
  /** Largest batch accepted in one call (SLUICE_MAX_BATCH_SIZE). */
  maxBatch?: number;
  /**
   * The pool's policy cache (`Engine.policies`): a steady stream of enqueues then costs one
   * round trip, the INSERT re-checking each cached queue (below). Without it every call reads
   * its queues first. Its defaults win over `defaults`.
   */
  policies?: QueuePolicies;
  /**
   * Runs after every input passed validation and before the INSERT, with the queues the INSERT
   * is checked against: admission control (queue size, enqueue rate) goes here, so cheap, local
   * refusals (payload size, bad input) answer first and a refused request never reads queue
   * state or spends rate budget. Runs again only when a queue changed under a cached policy
   * (the insert was then refused and is redone): it must give back what its last run took.
   */
  beforeInsert?: (queues: Map<string, Queue>) => Promise<void>;
}

const MAX_DELAY_MS = 10 * 365 * 24 * 3600 * 1000;
const MAX_TAGS = 32;
const utf8 = new TextEncoder();

/** A validated input, as the INSERT takes it: one round trip for any batch size. */
export interface InsertRow {
  ord: number;
  queue: string;
  kind: string;
  payload: unknown;
  /** JSON text of `payload`, produced once by validation and sent as is. */
  payloadText: string;
  priority: number;
  run_at: string | null;
  delay_ms: number | null;
  max_attempts: number;
  timeout_ms: number | null;
  idempotency_key: string | null;
  /** '' for the shared scope (see EnqueueInput.owner). */
  key_owner: string;
  tags: string[];
  created_by: string | null;
  retry_of: string | null;
  concurrency_key: string | null;
  throttle: ThrottleInput | null;
  debounce: DebounceInput | null;
}

export async function enqueueJob(
  sql: Db,
  input: EnqueueInput,
  opts: EnqueueOptions = {},
): Promise<EnqueueResult> {
  const [result] = await enqueueJobs(sql, [input], opts);
  return result!;
}

/**
 * Inserts jobs in one statement (all or nothing). Validation runs first and nothing is written on
 * error. Takes a pool or a transaction, so `sql.begin(tx => enqueueJobs(tx, …))` joins the
 * caller's transaction and commits or rolls back with it (one statement: no savepoint needed).
 *
 * With `opts.policies` the queues come from the pool's cache, and the INSERT itself re-checks
 * that each queue still exists, paused or not and with the same policy as cached (the `seen`
 * guard below), and inserts nothing otherwise; then the enqueue is redone with fresh queues. So
 * a cached policy can never let a job in that the current policy refuses.
 * Perf (issue #8): the separate `getQueues` round trip cost one-at-a-time enqueue 801 → 997 jobs/s
 * (median of 3, A/B alternating in one run, 2 cores, fsync on).
 */
export function enqueueJobs(
  sql: Db,
  inputs: readonly EnqueueInput[],
  opts: EnqueueOptions = {},
): Promise<EnqueueResult[]> {
  if (inputs.length === 0) return Promise.resolve([]);
  return tracedEnqueue(inputs, (trace) => insertJobs(sql, inputs, opts, trace));
}

/** enqueueJobs() inside its span; `trace` is the span's context as JSON text (null when off). */
async function insertJobs(
  sql: Db,
  inputs: readonly EnqueueInput[],
  opts: EnqueueOptions,
  trace: string | null,
): Promise<EnqueueResult[]> {
  const policies = opts.policies;
  const defaults = policies?.defaults ?? opts.defaults ?? BUILTIN_DEFAULTS;
  const maxBatch = opts.maxBatch ?? 10_000;
  if (inputs.length > maxBatch) {
    throw new SluiceError(
      "BATCH_TOO_LARGE",
      `batch of ${inputs.length} jobs is larger than the maximum of ${maxBatch}`,
      { size: inputs.length, max: maxBatch },
    );
  }
  const names = [...new Set(inputs.map((i) => assertQueueName(i.queue ?? "default")))];
  // Throttle and debounce take several statements in one transaction: they read the queues
  // fresh instead of guarding one INSERT against a cached policy.
  const flow = inputs.some((i) => i.throttle !== undefined || i.debounce !== undefined);
  let queues = policies && !flow
    ? await policies.get(names, sql)
    : await getQueues(sql, names, defaults);
  let guarded = policies !== undefined && !flow;
  // A refusal must not rest on a cached paused flag (the queue may have been resumed since):
  // read a queue that would refuse again before refusing. Rare, so it costs nothing in the
  // common path.
  if (
    guarded &&
    [...queues.values()].some((q) =>
      (q.paused && q.effective.rejectWhenPaused) || q.effective.refuseNew
    )
  ) {
    queues = await policies!.fresh(names, sql);
    guarded = false;
  }
  const rows = inputs.map((input, ord) => toInsertRow(input, ord, queues, defaults));
  await opts.beforeInsert?.(queues);
  // The retries for a finished key holder (mapWithDuplicates) must not admit the same request
  // twice; the retry for a changed queue below does, with the queues as they are now.
  const once = { ...opts, beforeInsert: undefined };
  if (flow) return await atomically(sql, (tx) => enqueueWithFlow(tx, rows, once));
  const anyKey = rows.some((r) => r.idempotency_key !== null);
  const seen = guarded ? statesOf(names, queues) : null;

  // WITH ORDINALITY + ORDER BY ord makes identity values follow input order, which maps new rows
  // back to inputs.
  // Perf (issue #8), statement alone on 1,000-row batches (2 cores, fsync on, loaded machine);
  // together with the splice below, batches of 1,000 went 13,725 → 17,948 jobs/s (A/B, median of 3):
  // - only the columns the database decides come back (id, state, run_at, created_at); the rest
  //   of the Job is the validated input. `RETURNING *` shipped and parsed every column of every
  //   row: 156 → 129 ms per batch for the statement alone.
  // - ON CONFLICT only when a row carries an idempotency key: speculative insertion writes one
  //   more WAL record per row (4,039 records per 1,000 rows with it): 129 → 98 ms.
  // - one array per column through unnest(), not one JSON document through jsonb_to_recordset:
  //   PostgreSQL built the whole jsonb value (planning 6.8 ms, execution 18.4 ms per 1,000 rows in
  //   pg_stat_statements) where parsing arrays and one small jsonb per payload costs 0.06 + 7.4 ms;
  //   the statement's round trip went 32.6 → 18.0 ms (median of 12, alternating), and batches of
  //   1,000 went 19,517 → 47,718 jobs/s (A/B alternating in one run, fresh database each, median
  //   of 5).
  const inserted = await sql<SlimRow[]>`
    INSERT INTO sluice.jobs (
      queue, kind, payload, state, priority, run_at, max_attempts, timeout_ms,
      idempotency_key, key_owner, tags, created_by, retry_of, concurrency_key, trace_context
    )
    SELECT x.queue, x.kind, x.payload::jsonb,
      CASE WHEN x.at > now() THEN 'scheduled' ELSE 'available' END,
      x.priority, x.at, x.max_attempts, x.timeout_ms, x.idempotency_key, x.key_owner,
      x.tags::text[], x.created_by, x.retry_of, x.concurrency_key, ${trace}::text::jsonb
    FROM (
      SELECT r.*, coalesce(r.run_at, now() + coalesce(r.delay_ms, 0) * interval '1 millisecond') AS at
      FROM ${sourceOf(sql, rows)}
    ) x
    ${
    seen === null ? sql`` : sql`
    WHERE (SELECT count(*) FROM sluice.queues q
      JOIN unnest(${names}::text[], ${seen.policies}::text[], ${seen.paused}::text[])
        AS s(name, policy, paused)
        ON s.name = q.name AND s.policy::jsonb = q.policy AND s.paused::bool = q.paused
    ) = ${names.length}`
  }
    ORDER BY x.ord
    ${
    anyKey
      ? sql`ON CONFLICT (queue, key_owner, idempotency_key)
      WHERE idempotency_key IS NOT NULL
        AND state IN ('blocked', 'scheduled', 'available', 'running', 'retrying')
      DO NOTHING`
      : sql``
  }
    RETURNING id, state, run_at, created_at, queue, idempotency_key, key_owner`;

  if (inserted.length === 0 && guarded) {
    // Either every row was a duplicate, or a queue changed since it was cached: look again.
    const fresh = await policies!.fresh(names, sql);
    const now = statesOf(names, fresh);
    if (
      !names.every((n) => fresh.has(n)) ||
      now.policies.some((p, i) => p !== seen!.policies[i]) ||
      now.paused.some((p, i) => p !== seen!.paused[i])
    ) {
      return await insertJobs(sql, inputs, opts, trace);
    }
  }
  const results: (EnqueueResult | undefined)[] = new Array(rows.length);
  if (inserted.length === rows.length) {
    sortById(inserted).forEach((
      row,
      i,
    ) => (results[i] = { job: newJob(rows[i]!, row), duplicate: false }));
    return results as EnqueueResult[];
  }
  return await mapWithDuplicates(sql, rows, sortById(inserted), once, trace);
}

/** What the INSERT returns: the columns the database decides, plus what pairs rows with inputs. */
interface SlimRow {
  id: string;
  state: JobRow["state"];
  run_at: Date;
  created_at: Date;
  queue: string;
  idempotency_key: string | null;
  key_owner: string;
}

/**
 * Each queue's policy as JSON text and paused flag, in the order of `names` (null for a queue
 * not found): what the INSERT's guard compares with the rows.
 */
function statesOf(names: string[], queues: Map<string, Queue>) {
  return {
    policies: names.map((n) => {
      const policy = queues.get(n)?.policy;
      return policy === undefined ? null : JSON.stringify(policy);
    }),
    // As text: postgres.js sends a boolean array as one boolean.
    paused: names.map((n) => {
      const paused = queues.get(n)?.paused;
      return paused === undefined ? null : String(paused);
    }),
  };
}

/**
 * The rows as a relation with the INSERT's column names plus `ord`: one array per column through
 * unnest() for a batch, plain scalars for a single row.
 * Perf (issue #8): one-at-a-time enqueue through twelve one-element arrays ran at 56% of a plain
 * one-row INSERT from the same postgres.js client (958 vs 1,720/s), through scalars at 67% (1,026
 * vs 1,533/s, median of 5). Against the jsonb_to_recordset statement before: 1,038 → 1,108 jobs/s
 * (16 interleaved rounds of 200 in one run, medians; whole-run A/Bs were too noisy to tell).
 */
function sourceOf(sql: Db, rows: InsertRow[]) {
  if (rows.length === 1) {
    const r = rows[0]!;
    return sql`(SELECT ${r.queue}::text AS queue, ${r.kind}::text AS kind,
      ${r.payloadText}::text AS payload, ${r.priority}::smallint AS priority,
      ${r.run_at}::timestamptz AS run_at, ${r.delay_ms}::bigint AS delay_ms,
      ${r.max_attempts}::int AS max_attempts, ${r.timeout_ms}::int AS timeout_ms,
      ${r.idempotency_key}::text AS idempotency_key, ${r.key_owner}::text AS key_owner,
      ${arrayLiteral(r.tags)}::text AS tags,
      ${r.created_by}::text AS created_by, ${r.retry_of}::bigint AS retry_of,
      ${r.concurrency_key}::text AS concurrency_key, 1 AS ord) r`;
  }
  const c = columnsOf(rows);
  return sql`unnest(
        ${c.queue}::text[], ${c.kind}::text[], ${c.payload}::text[], ${c.priority}::smallint[],
        ${c.runAt}::timestamptz[], ${c.delayMs}::bigint[], ${c.maxAttempts}::int[],
        ${c.timeoutMs}::int[], ${c.key}::text[], ${c.keyOwner}::text[], ${c.tags}::text[],
        ${c.createdBy}::text[], ${c.retryOf}::bigint[], ${c.concurrencyKey}::text[]
      ) WITH ORDINALITY AS r(
        queue, kind, payload, priority, run_at, delay_ms, max_attempts, timeout_ms,
        idempotency_key, key_owner, tags, created_by, retry_of, concurrency_key, ord
      )`;
}

/** The rows as one array per column, for unnest(). */
function columnsOf(rows: InsertRow[]) {
  const n = rows.length;
  const c = {
    queue: new Array<string>(n),
    kind: new Array<string>(n),
    payload: new Array<string>(n),
    priority: new Array<number>(n),
    runAt: new Array<string | null>(n),
    delayMs: new Array<number | null>(n),
    maxAttempts: new Array<number>(n),
    timeoutMs: new Array<number | null>(n),
    key: new Array<string | null>(n),
    keyOwner: new Array<string>(n),
    tags: new Array<string>(n),
    createdBy: new Array<string | null>(n),
    retryOf: new Array<string | null>(n),
    concurrencyKey: new Array<string | null>(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    c.queue[i] = r.queue;
    c.kind[i] = r.kind;
    c.payload[i] = r.payloadText;
    c.priority[i] = r.priority;
    c.runAt[i] = r.run_at;
    c.delayMs[i] = r.delay_ms;
    c.maxAttempts[i] = r.max_attempts;
    c.timeoutMs[i] = r.timeout_ms;
    c.key[i] = r.idempotency_key;
    c.keyOwner[i] = r.key_owner;
    c.tags[i] = arrayLiteral(r.tags);
    c.createdBy[i] = r.created_by;
    c.retryOf[i] = r.retry_of === null ? null : String(r.retry_of);
    c.concurrencyKey[i] = r.concurrency_key;
  }
  return c;
}

/** A text[] literal (`{"a","b\\"c"}`): unnest() flattens nested arrays, so tags travel as text. */
function arrayLiteral(items: readonly string[]): string {
  if (items.length === 0) return "{}";
  return `{${
    items.map((t) => `"${t.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")
  }}`;
}

/** The Job resource of a freshly inserted row, from its validated input and what PostgreSQL set. */
function newJob(row: InsertRow, db: SlimRow): Job {
  return {
    id: String(db.id),
    queue: row.queue,
    kind: row.kind,
    state: db.state,
    // Parsed back from the text sent, so the value is what jsonb stored (Dates become strings…).
    payload: JSON.parse(row.payloadText),
    priority: row.priority,
    attempt: 0,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    runAt: db.run_at.toISOString(),
    createdAt: db.created_at.toISOString(),
    startedAt: null,
    finishedAt: null,
    leaseExpiresAt: null,
    workerId: null,
    deadReason: null,
    lastError: null,
    errors: [],
    result: null,
    retryOf: row.retry_of === null ? null : String(row.retry_of),
    idempotencyKey: row.idempotency_key,
    tags: [...row.tags],
    createdBy: row.created_by,
    cancelRequested: false,
    concurrencyKey: row.concurrency_key || null,
    composition: null,
  };
}

/**
 * Some rows hit an unfinished job with the same idempotency key. Inserted rows come back in input
 * order, so one walk pairs them with their inputs; the rest are answered with the key's holder.
 */
async function mapWithDuplicates(
  sql: Db,
  rows: InsertRow[],
  inserted: SlimRow[],
  opts: EnqueueOptions,
  trace: string | null,
): Promise<EnqueueResult[]> {
  // A key is one owner's: the holder must match queue, owner and key, so a duplicate answer
  // can only ever be the asking owner's own job.
  const keyOf = (r: { queue: string; key_owner: string; idempotency_key: string | null }) =>
    `${r.queue}\u0000${r.key_owner}\u0000${r.idempotency_key}`;
  const results: (EnqueueResult | null)[] = [];
  const holders = new Map<string, Job>();
  let next = 0;
  for (const row of rows) {
    const candidate = inserted[next];
    if (candidate && keyOf(candidate) === keyOf(row)) {
      const job = newJob(row, candidate);
      results.push({ job, duplicate: false });
      if (row.idempotency_key !== null) holders.set(keyOf(row), job);
      next++;
    } else {
      results.push(null);
    }
  }
  const wanted = rows.filter((r, i) => results[i] === null && !holders.has(keyOf(r)));
  if (wanted.length > 0) {
    const existing = await sql<(JobRow & { key_owner: string })[]>`
      SELECT j.* FROM sluice.jobs j
      JOIN jsonb_to_recordset(${
      JSON.stringify(
        wanted.map((m) => ({ queue: m.queue, owner: m.key_owner, key: m.idempotency_key })),
      )
    }::text::jsonb) AS k(queue text, owner text, key text)
        ON j.queue = k.queue AND j.key_owner = k.owner AND j.idempotency_key = k.key
      WHERE j.state IN ('blocked', 'scheduled', 'available', 'running', 'retrying')`;
    for (const r of existing) holders.set(keyOf(r), toJob(r));
  }
  const retry: number[] = [];
  rows.forEach((row, i) => {
    if (results[i]) return;
    const holder = holders.get(keyOf(row));
    if (holder) results[i] = { job: holder, duplicate: true };
    else retry.push(i);
  });
  // A holder finished between our insert and our lookup: its key is free again, so try again.
  if (retry.length > 0) {
    const again = await insertJobs(sql, retry.map((i) => fromInsertRow(rows[i]!)), opts, trace);
    retry.forEach((i, n) => (results[i] = again[n]!));
  }
  return results as EnqueueResult[];
}

/** Ids ascending; PostgreSQL returns them in insertion order already, so this rarely sorts. */
function sortById<T extends { id: string }>(rows: T[]): T[] {
  const before = (a: T, b: T) => {
    const x = String(a.id), y = String(b.id);
    return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
  };
  for (let i = 1; i < rows.length; i++) {
    if (before(rows[i - 1]!, rows[i]!) > 0) return [...rows].sort(before);
  }
  return rows;
}

/** Validates one input against its queue (exported for batch callbacks, checked up front). */
export function toInsertRow(
  input: EnqueueInput,
  ord: number,
  queues: Map<string, Queue>,
  defaults: EngineDefaults,
): InsertRow {
  const queueName = input.queue ?? "default";
  const queue = queues.get(queueName);
  if (!queue) throw queueNotFound(queueName);
  if (queue.paused && queue.effective.rejectWhenPaused) {
    throw new SluiceError(
      "QUEUE_PAUSED",
      `queue '${queueName}' is paused and refuses new jobs until it is resumed`,
      { index: ord, queue: queueName },
    );
  }
  if (queue.effective.refuseNew) {
    throw new SluiceError(
      "QUEUE_DRAINING",
      `queue '${queueName}' is draining and refuses new jobs until it is resumed`,
      { index: ord, queue: queueName },
    );
  }
  const fail = (message: string, details: Record<string, unknown> = {}) =>
    new SluiceError("VALIDATION_FAILED", message, { index: ord, ...details });

  assertKind(input.kind);
  const payload = input.payload === undefined ? {} : input.payload;
  const payloadText = checkedPayloadText(payload, queue, { index: ord });
  const priority = input.priority ?? 0;
  if (!Number.isInteger(priority) || priority < -32768 || priority > 32767) {
    throw fail("priority must be an integer from -32768 to 32767");
  }
  if (input.runAt !== undefined && input.delayMs !== undefined) {
    throw fail("give either runAt or delay, not both");
  }
  let runAt: string | null = null;
  if (input.runAt !== undefined) {
    const d = input.runAt instanceof Date ? input.runAt : parseZonedTime(input.runAt);
    if (!d) throw fail(`runAt ${JSON.stringify(input.runAt)} is not a timestamp with a time zone`);
    runAt = d.toISOString();
  }
  const delayMs = input.delayMs ?? null;
  if (delayMs !== null && (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS)) {
    throw fail("delay must be between 0 and 10 years");
  }
  const maxAttempts = input.maxAttempts ?? queue.effective.maxAttempts ?? defaults.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 1000) {
    throw fail("maxAttempts must be an integer from 1 to 1000");
  }
  const timeoutMs = input.timeoutMs ?? null;
  if (
    timeoutMs !== null && (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2 ** 31 - 1)
  ) {
    throw fail("timeout must be between 1ms and 24 days");
  }
  const key = input.idempotencyKey ?? null;
  if (
    key !== null &&
    (typeof key !== "string" || key.length === 0 || key.length > 255 || !isStorableText(key))
  ) {
    throw fail("idempotencyKey must be 1 to 255 characters");
  }
  const owner = input.owner ?? "";
  if (typeof owner !== "string" || owner.length > 255 || !isStorableText(owner)) {
    throw fail("owner must be a string of at most 255 characters");
  }
  const tags = input.tags ?? [];
  if (
    !Array.isArray(tags) || tags.length > MAX_TAGS ||
    tags.some((t) =>
      typeof t !== "string" || t.length === 0 || t.length > 128 || !isStorableText(t)
    )
  ) {
    throw fail(`tags must be at most ${MAX_TAGS} strings of 1 to 128 characters`);
  }
  return {
    ord,
    queue: queueName,
    kind: input.kind,
    payload,
    payloadText,
    priority,
    run_at: runAt,
    delay_ms: delayMs,
    max_attempts: maxAttempts,
    timeout_ms: timeoutMs,
    idempotency_key: key,
    key_owner: owner,
    tags,
    created_by: input.createdBy ?? null,
    retry_of: input.retryOf ?? null,
    // '' marks a job without a key in a keyed queue, so the keyed lease finds it through its
    // index (src/queue/key_limits.ts); no given key is empty.
    concurrency_key: flowKey(input.concurrencyKey ?? null, "concurrencyKey", fail) ??
      (queue.effective.keyConcurrency !== null ? "" : null),
    ...flowOf(input, fail),
  };
}

/**
 * A job payload's JSON text, or the refusal: VALIDATION_FAILED for what is not a JSON object or
 * array or cannot be stored (U+0000, unpaired surrogates, nesting deeper than MAX_JSON_DEPTH),
 * PAYLOAD_TOO_LARGE over the queue's maxPayloadBytes. Schedules validate their payload with it
 * too, so a schedule can never hold a payload its jobs would be refused for.
 */
export function checkedPayloadText(
  payload: unknown,
  queue: Queue,
  details: Record<string, unknown> = {},
): string {
  if (payload === null || typeof payload !== "object") {
    throw new SluiceError("VALIDATION_FAILED", "payload must be a JSON object or array", details);
  }
  // What jsonb cannot store (U+0000, unpaired surrogates, extreme depth) is refused up front
  // instead of failing inside PostgreSQL. (Searching the JSON text for `\\u0000` also refused
  // an escaped backslash followed by "u0000", which is legitimate text.)
  const problem = jsonValueProblem(payload);
  if (problem) throw new SluiceError("VALIDATION_FAILED", `payload ${problem}`, details);
  const payloadText = JSON.stringify(payload);
  const limit = queue.effective.maxPayloadBytes;
  // A UTF-16 code unit is at most 3 bytes of UTF-8: skip the encoding when that cannot exceed.
  const bytes = limit === null || payloadText.length * 3 <= limit
    ? payloadText.length
    : utf8.encode(payloadText).length;
  if (limit !== null && bytes > limit) {
    throw new SluiceError(
      "PAYLOAD_TOO_LARGE",
      `payload of ${bytes} bytes is larger than queue '${queue.name}' accepts (${limit} bytes)`,
      { ...details, bytes, limit, queue: queue.name },
    );
  }
  return payloadText;
}

/**
 * A request with throttled or debounced jobs, in one transaction: windows are claimed in input
 * order, debounced jobs are upserted one by one, and everything else (plain jobs and the first
 * job of each window) is inserted by the plain path in one statement. Suppressed enqueues are
 * answered with the job that holds the key (`duplicate: true`) and written to the decisions log.
 */
async function enqueueWithFlow(
  tx: Tx,
  rows: InsertRow[],
  opts: EnqueueOptions,
): Promise<EnqueueResult[]> {
  const claims = await claimWindows(tx, rows);
  const results: (EnqueueResult | null)[] = rows.map(() => null);
  const plain = rows.filter((r, i) => r.debounce === null && (claims[i]?.claimed ?? true));
  const inserted = await enqueueJobs(tx, plain.map(fromInsertRow), opts);
  plain.forEach((r, n) => (results[r.ord] = inserted[n]!));
  await recordWindowJobs(tx, rows, results.map((r) => r?.job.id ?? null));
  for (const [i, row] of rows.entries()) {
    const claim = claims[i];
    if (claim && !claim.claimed) {
      const holder = claim.sameAs !== null
        ? results[claim.sameAs]!.job
        : claim.holder === null
        ? null
        : await getJob(tx, claim.holder).catch(() => null);
      if (holder === null) {
        // The window's job is gone (pruned with its history): the key is free in practice.
        results[i] = (await enqueueJobs(tx, [fromInsertRow(row)], opts))[0]!;
        await recordWindowJobs(tx, [row], [results[i]!.job.id]);
        continue;
      }
      await recordThrottled(tx, row, holder.id, claim.until);
      results[i] = { job: holder, duplicate: true };
    } else if (row.debounce !== null) {
      const { id, inserted } = await upsertDebounced(tx, { ...row, debounce: row.debounce });
      if (!inserted) await recordDebounced(tx, row, id);
      results[i] = { job: await getJob(tx, id), duplicate: !inserted };
    }
  }
  return results as EnqueueResult[];
}

function fromInsertRow(r: InsertRow): EnqueueInput {
  return {
    queue: r.queue,
    kind: r.kind,
    payload: r.payload,
    priority: r.priority,
    runAt: r.run_at ?? undefined,
    delayMs: r.delay_ms ?? undefined,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms ?? undefined,
    idempotencyKey: r.idempotency_key ?? undefined,
    owner: r.key_owner,
    tags: r.tags,
    createdBy: r.created_by,
    retryOf: r.retry_of,
    concurrencyKey: r.concurrency_key || undefined,
  };
}

// RFC 3339 with an explicit zone: a local time without one is ambiguous, so it is refused.
const ZONED =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

export function parseZonedTime(text: string): Date | null {
  const m = typeof text === "string" ? ZONED.exec(text) : null;
  if (!m) return null;
  // Date() rolls impossible fields over (February 30 becomes March 2): refuse them instead.
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "0"].map(Number) as number[];
  const day = new Date(Date.UTC(y!, mo! - 1, d!));
  if (
    day.getUTCMonth() !== mo! - 1 || day.getUTCDate() !== d || h! > 23 || mi! > 59 || s! > 59
  ) {
    return null;
  }
  const at = new Date(text);
  // PostgreSQL has no year 0 (and Date.UTC maps years 0–99 to 19xx, so the check above passes
  // them): "0000-01-01T00:00:00Z", or "0001-01-01T00:00:00+01:00", would answer 500 there.
  if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1) return null;
  return at;
}
