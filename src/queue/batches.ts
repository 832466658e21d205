/**
 * Batches: a group of jobs with callback jobs enqueued once when the group settles (closed, and
 * every job finished). Counting and settling happen in the database, in the transaction that
 * finishes each job (trigger `jobs_finished`, function `sluice.settle_batch`, migrations/
 * 0014_composition_dependencies.sql): the batch row's lock orders the finishers, and only the
 * one whose update brings `finished` to `total` on a closed batch settles it.
 */
import { atomically, type Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { type DependentInput, enqueueWithParents, type Membership } from "./dependencies.ts";
import {
  type EnqueueInput,
  type EnqueueOptions,
  type EnqueueResult,
  toInsertRow,
} from "./enqueue.ts";
import type { JobState } from "./job.ts";
import { BUILTIN_DEFAULTS, getQueues } from "./queues.ts";

export const BATCH_CALLBACKS = ["onSuccess", "onFailure", "onComplete"] as const;
export type BatchCallback = typeof BATCH_CALLBACKS[number];

export interface BatchInput {
  name?: string | null;
  jobs?: readonly DependentInput[];
  onSuccess?: EnqueueInput;
  onFailure?: EnqueueInput;
  onComplete?: EnqueueInput;
  /** Keep the batch open for more jobs (POST /v1/batches/:id/jobs) until it is closed. */
  open?: boolean;
  createdBy?: string | null;
  owner?: string | null;
}

export interface Batch {
  id: string;
  name: string | null;
  /** open: takes jobs; running: closed, jobs unfinished; settled: callbacks enqueued. */
  state: "open" | "running" | "settled";
  total: number;
  /** Jobs per current state (finished ones counted once, by their first final state). */
  counts: Partial<Record<JobState, number>>;
  finished: number;
  percent: number;
  callbacks: Partial<Record<BatchCallback, { kind: string; queue: string }>>;
  /** The callback jobs enqueued when the batch settled. */
  callbackJobs: Partial<Record<BatchCallback, string>>;
  createdBy: string | null;
  createdAt: string;
  closedAt: string | null;
  settledAt: string | null;
}

export function batchNotFound(id: string): SluiceError {
  return new SluiceError("BATCH_NOT_FOUND", `batch ${id} does not exist`, { batchId: id });
}

interface BatchRow {
  id: string;
  name: string | null;
  created_by: string | null;
  open: boolean;
  total: number;
  succeeded: number;
  dead: number;
  cancelled: number;
  callbacks: Record<string, { kind: string; queue: string }>;
  callback_jobs: Record<string, string> | null;
  created_at: Date;
  closed_at: Date | null;
  settled_at: Date | null;
}

/**
 * Callback specs as settle_batch inserts them, validated now against their queues (a callback
 * that could never be inserted is refused with the batch, not discovered when it settles).
 */
async function callbackSpecs(sql: Db, input: BatchInput, opts: EnqueueOptions) {
  const specs: Record<string, unknown> = {};
  const wanted = BATCH_CALLBACKS.filter((c) => input[c] !== undefined);
  if (wanted.length === 0) return specs;
  const names = wanted.map((c) => input[c]!.queue ?? "default");
  const queues = await getQueues(sql, names, opts.defaults ?? BUILTIN_DEFAULTS);
  wanted.forEach((c, i) => {
    const r = toInsertRow(input[c]!, i, queues, opts.defaults ?? BUILTIN_DEFAULTS);
    if (r.run_at !== null || r.delay_ms !== null || r.idempotency_key !== null) {
      throw new SluiceError(
        "VALIDATION_FAILED",
        `${c}: a batch callback runs when the batch settles; runAt, delay and idempotencyKey ` +
          "do not apply",
        { field: c },
      );
    }
    specs[c] = {
      queue: r.queue,
      kind: r.kind,
      payload: r.payload,
      priority: r.priority,
      max_attempts: r.max_attempts,
      timeout_ms: r.timeout_ms,
      tags: r.tags,
    };
  });
  return specs;
}

/** Creates a batch with its first jobs; closed at once unless `open`. */
export async function createBatch(
  sql: Db,
  input: BatchInput,
  opts: EnqueueOptions & { ownedBy?: string | null } = {},
): Promise<{ batch: Batch; jobs: EnqueueResult[] }> {
  if (input.name != null && (input.name.length < 1 || input.name.length > 128)) {
    throw new SluiceError("VALIDATION_FAILED", "name must be 1 to 128 characters");
  }
  const specs = await callbackSpecs(sql, input, opts);
  const { id, jobs } = await atomically(sql, async (tx) => {
    const [b] = await tx<{ id: string }[]>`
      INSERT INTO sluice.batches (name, created_by, owner, open, callbacks)
      VALUES (${input.name ?? null}, ${input.createdBy ?? null}, ${input.owner ?? ""}, true,
        ${JSON.stringify(specs)}::text::jsonb)
      RETURNING id`;
    const id = String(b!.id);
    const jobs = input.jobs?.length ? await addJobs(tx, id, input.jobs, opts) : [];
    if (!input.open) await closeBatch(tx, id);
    return { id, jobs };
  });
  return { batch: await getBatch(sql, id), jobs };
}

/**
 * Adds jobs to an open batch. Parents are locked before the batch row (enqueueWithParents'
 * `before`), the same order as a finishing parent's transaction takes them (its own row, then
 * the batch's), so the two cannot deadlock. A duplicate (idempotency key) is not counted.
 */
export async function addJobs(
  sql: Db,
  batchId: string,
  inputs: readonly DependentInput[],
  opts: EnqueueOptions & { ownedBy?: string | null } = {},
): Promise<EnqueueResult[]> {
  const membership: Membership = { batchId };
  return await atomically(sql, async (tx) => {
    const results = await enqueueWithParents(tx, inputs, opts, membership, async (t) => {
      const [b] = await t<{ open: boolean }[]>`
        UPDATE sluice.batches SET total = total + ${inputs.length}
        WHERE id = ${batchId}::bigint ${
        opts.ownedBy != null ? t`AND created_by = ${opts.ownedBy}` : t``
      }
        RETURNING open`;
      if (!b) throw batchNotFound(batchId);
      if (!b.open) {
        throw new SluiceError("BATCH_CLOSED", `batch ${batchId} is closed and takes no more jobs`, {
          batchId,
        });
      }
    });
    const dupes = results.filter((r) => r.duplicate).length;
    if (dupes > 0) {
      await tx`UPDATE sluice.batches SET total = total - ${dupes} WHERE id = ${batchId}::bigint`;
    }
    return results;
  });
}

/** Closes a batch; one whose jobs have all finished settles now. */
export async function closeBatch(
  sql: Db,
  id: string,
  opts: { ownedBy?: string | null } = {},
): Promise<Batch> {
  checkId(id);
  await atomically(sql, async (tx) => {
    const rows = await tx`
      UPDATE sluice.batches SET open = false, closed_at = coalesce(closed_at, now())
      WHERE id = ${id}::bigint ${opts.ownedBy != null ? tx`AND created_by = ${opts.ownedBy}` : tx``}
      RETURNING id`;
    if (rows.length === 0) throw batchNotFound(id);
    await tx`SELECT sluice.settle_batch(${id}::bigint)`;
  });
  return await getBatch(sql, id, opts);
}

function checkId(id: string): void {
  if (!/^[1-9][0-9]{0,18}$/.test(id)) throw batchNotFound(id);
}

function toBatch(r: BatchRow, live: Partial<Record<JobState, number>>): Batch {
  const finished = r.succeeded + r.dead + r.cancelled;
  const counts: Partial<Record<JobState, number>> = { ...live };
  for (const s of ["succeeded", "dead", "cancelled"] as const) if (r[s] > 0) counts[s] = r[s];
  const callbacks: Batch["callbacks"] = {};
  for (const [c, spec] of Object.entries(r.callbacks ?? {})) {
    callbacks[c as BatchCallback] = { kind: spec.kind, queue: spec.queue };
  }
  return {
    id: String(r.id),
    name: r.name,
    state: r.settled_at ? "settled" : r.open ? "open" : "running",
    total: r.total,
    counts,
    finished,
    percent: r.total === 0 ? (r.settled_at ? 100 : 0) : Math.floor((finished * 100) / r.total),
    callbacks,
    callbackJobs: r.callback_jobs ?? {},
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    closedAt: r.closed_at?.toISOString() ?? null,
    settledAt: r.settled_at?.toISOString() ?? null,
  };
}

/** Unfinished jobs of the batches per state (finished ones come from the batch's counters). */
async function liveCounts(sql: Db, ids: readonly string[]) {
  const rows = await sql<{ batch_id: string; state: JobState; n: number }[]>`
    SELECT batch_id, state, count(*)::int AS n FROM sluice.jobs
    WHERE batch_id = ANY(${ids as string[]}::bigint[])
      AND state IN ('blocked', 'scheduled', 'available', 'running', 'retrying')
    GROUP BY batch_id, state`;
  const out = new Map<string, Partial<Record<JobState, number>>>();
  for (const r of rows) {
    const m = out.get(String(r.batch_id)) ?? {};
    m[r.state] = r.n;
    out.set(String(r.batch_id), m);
  }
  return out;
}

export async function getBatch(
  sql: Db,
  id: string,
  opts: { ownedBy?: string | null } = {},
): Promise<Batch> {
  checkId(id);
  const [row] = await sql<BatchRow[]>`
    SELECT * FROM sluice.batches
    WHERE id = ${id}::bigint ${
    opts.ownedBy != null ? sql`AND created_by = ${opts.ownedBy}` : sql``
  }`;
  if (!row) throw batchNotFound(id);
  return toBatch(row, (await liveCounts(sql, [id])).get(id) ?? {});
}

export async function listBatches(
  sql: Db,
  f: { before?: string; limit?: number; ownedBy?: string | null; name?: string } = {},
): Promise<{ batches: Batch[]; next: string | null }> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
  const rows = await sql<BatchRow[]>`
    SELECT * FROM sluice.batches
    WHERE true ${f.before ? sql`AND id < ${f.before}::bigint` : sql``}
      ${f.name ? sql`AND name = ${f.name}` : sql``}
      ${f.ownedBy != null ? sql`AND created_by = ${f.ownedBy}` : sql``}
    ORDER BY id DESC LIMIT ${limit}`;
  const live = await liveCounts(sql, rows.map((r) => String(r.id)));
  return {
    batches: rows.map((r) => toBatch(r, live.get(String(r.id)) ?? {})),
    next: rows.length === limit ? String(rows.at(-1)!.id) : null,
  };
}
