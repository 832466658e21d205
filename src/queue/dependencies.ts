/**
 * Jobs that wait for other jobs (issue #16). A child names its parents; it is inserted like any
 * job and, in the same transaction, turned `blocked` with a counter of parents that have not
 * succeeded yet. The release happens in the database, in the transaction that finishes the last
 * parent (trigger `jobs_finished`, migrations/0014_composition_dependencies.sql), so every path
 * that ends a job releases its children. Data model and concurrency: docs/composition.md.
 */
import { atomically, type Db, type Tx } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import {
  type EnqueueInput,
  enqueueJobs,
  type EnqueueOptions,
  type EnqueueResult,
} from "./enqueue.ts";
import { isJobId } from "./inspect.ts";
import type { JobState } from "./job.ts";

export const PARENT_FAILURE_POLICIES = ["cancel", "run", "wait"] as const;
/** What a parent ending dead or cancelled does to its child (default cancel). */
export type ParentFailurePolicy = typeof PARENT_FAILURE_POLICIES[number];

/** A job's parents: at most this many, so one enqueue locks a bounded set of rows. */
export const MAX_PARENTS = 100;

export interface DependentInput extends EnqueueInput {
  /** Ids of jobs that must succeed first. */
  dependsOn?: readonly string[];
  onParentFailure?: ParentFailurePolicy;
}

export interface DependentOptions extends EnqueueOptions {
  /** Only parents created by this token name are accepted (producer scope); null: any. */
  ownedBy?: string | null;
}

/** What attach() writes onto freshly inserted jobs, besides their parents. */
export interface Membership {
  batchId?: string | null;
  workflowId?: string | null;
  /** Per inserted job (same order as the inputs): its workflow node key. */
  keys?: readonly (string | null)[];
}

export function parentNotFound(ids: readonly string[]): SluiceError {
  return new SluiceError(
    "PARENT_NOT_FOUND",
    `parent job ${ids.map((i) => `'${i}'`).join(", ")} does not exist or is not yours`,
    { parents: ids },
  );
}

/** Whether any input waits for parents: only those take the composed path. */
export function hasParents(inputs: readonly DependentInput[]): boolean {
  return inputs.some((i) => i.dependsOn !== undefined && i.dependsOn.length > 0);
}

/**
 * Enqueues jobs of which some name parents, in one transaction: parents are locked first (so a
 * parent finishing now either committed before, and is read as finished, or waits for this
 * transaction and then sees the new edge), then the jobs are inserted by enqueueJobs and the
 * children attached. A duplicate (idempotency key) keeps the holder as it is.
 */
export async function enqueueWithParents(
  sql: Db,
  inputs: readonly DependentInput[],
  opts: DependentOptions = {},
  membership: Membership = {},
  before?: (tx: Tx) => Promise<void>,
): Promise<EnqueueResult[]> {
  const parents = inputs.map((i, index) => checkedParents(i, index));
  return await atomically(sql, async (tx) => {
    const states = await lockParents(tx, parents.flat(), opts.ownedBy ?? null);
    await before?.(tx);
    const results = await enqueueJobs(tx, inputs.map(plainInput), opts);
    await attach(tx, results, inputs, parents, states, membership);
    return results;
  });
}

/** The input without the fields enqueueJobs does not know. */
export function plainInput(i: DependentInput): EnqueueInput {
  const { dependsOn: _d, onParentFailure: _p, ...plain } = i;
  return plain;
}

function checkedParents(input: DependentInput, index: number): string[] {
  const fail = (message: string) =>
    new SluiceError("VALIDATION_FAILED", message, { index, field: "dependsOn" });
  const policy = input.onParentFailure;
  if (policy !== undefined && !PARENT_FAILURE_POLICIES.includes(policy)) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `onParentFailure must be one of ${PARENT_FAILURE_POLICIES.join(", ")}`,
      { index, field: "onParentFailure" },
    );
  }
  const ids = input.dependsOn ?? [];
  if (!Array.isArray(ids)) throw fail("dependsOn must be an array of job ids");
  const bad = ids.find((id) => !isJobId(id));
  if (bad !== undefined) throw fail(`dependsOn: '${String(bad).slice(0, 40)}' is not a job id`);
  const unique = [...new Set(ids.map(String))];
  if (unique.length > MAX_PARENTS) {
    throw fail(`dependsOn names ${unique.length} parents; at most ${MAX_PARENTS} are allowed`);
  }
  return unique;
}

/**
 * Locks the parents and marks them as having dependents; returns each parent's state. The
 * UPDATE waits for a transaction finishing the parent and then reads the state it committed.
 * A succeeded parent the archiver moved away counts as succeeded. Missing or another
 * producer's parents are refused.
 */
export async function lockParents(
  tx: Db,
  ids: readonly string[],
  ownedBy: string | null,
): Promise<Map<string, JobState>> {
  const unique = [...new Set(ids)];
  const states = new Map<string, JobState>();
  if (unique.length === 0) return states;
  // In id order, so two enqueues naming the same parents lock them in the same order.
  const rows = await tx<{ id: string; state: JobState }[]>`
    UPDATE sluice.jobs j SET has_dependents = true
    FROM (SELECT id FROM sluice.jobs WHERE id = ANY(${unique}::bigint[])
      ${ownedBy != null ? tx`AND created_by = ${ownedBy}` : tx``}
      ORDER BY id FOR NO KEY UPDATE) p
    WHERE j.id = p.id
    RETURNING j.id, j.state`;
  for (const r of rows) states.set(String(r.id), r.state);
  const missing = unique.filter((id) => !states.has(id));
  if (missing.length > 0) {
    const archived = await tx<{ id: string }[]>`
      SELECT id FROM sluice.jobs_archive WHERE id = ANY(${missing}::bigint[])
        ${ownedBy != null ? tx`AND created_by = ${ownedBy}` : tx``}`;
    for (const r of archived) states.set(String(r.id), "succeeded");
    const gone = missing.filter((id) => !states.has(id));
    if (gone.length > 0) throw parentNotFound(gone);
  }
  return states;
}

const FAILED: readonly JobState[] = ["dead", "cancelled"];

/**
 * Writes edges, counters, policies and memberships onto the freshly inserted jobs of
 * `results`, in one statement for the jobs and one for the edges. A child whose parents have
 * all succeeded stays as inserted (released at once); one with a failed parent under 'cancel'
 * ends cancelled (PARENT_FAILED) right away, which the trigger passes on to its own children.
 * Updates `results[i].job.state` to what was written.
 */
export async function attach(
  tx: Db,
  results: EnqueueResult[],
  inputs: readonly DependentInput[],
  parents: readonly string[][],
  states: Map<string, JobState>,
  membership: Membership,
): Promise<void> {
  const ids: string[] = [], pending: number[] = [], policies: (string | null)[] = [];
  const cancel: string[] = [], keys: (string | null)[] = [];
  const edgeParents: string[] = [], edgeChildren: string[] = [];
  results.forEach((r, i) => {
    if (r.duplicate) return;
    const mine = parents[i] ?? [];
    const policy = mine.length > 0 ? inputs[i]!.onParentFailure ?? "cancel" : null;
    const failed = mine.filter((p) => FAILED.includes(states.get(p)!)).length;
    const done = mine.filter((p) => states.get(p) === "succeeded").length;
    const open = mine.length - done - (policy === "run" ? failed : 0);
    const cancelled = failed > 0 && policy === "cancel";
    ids.push(r.job.id);
    pending.push(mine.length > 0 ? open : -1);
    policies.push(policy);
    cancel.push(String(cancelled));
    keys.push(membership.keys?.[i] ?? null);
    for (const p of mine) {
      edgeParents.push(p);
      edgeChildren.push(r.job.id);
    }
    if (cancelled) r.job.state = "cancelled";
    else if (open > 0) r.job.state = "blocked";
  });
  if (ids.length === 0) return;
  if (edgeParents.length > 0) {
    await tx`
      INSERT INTO sluice.job_dependencies (parent_id, child_id)
      SELECT * FROM unnest(${edgeParents}::bigint[], ${edgeChildren}::bigint[])
      ON CONFLICT DO NOTHING`;
  }
  if (edgeParents.length === 0 && !membership.batchId && !membership.workflowId) return;
  // cancel as text: postgres.js sends a boolean array as one boolean.
  await tx`
    UPDATE sluice.jobs j SET
      parents_pending = nullif(x.pending, -1),
      on_parent_failure = x.policy,
      batch_id = ${membership.batchId ?? null}::bigint,
      workflow_id = ${membership.workflowId ?? null}::bigint,
      workflow_key = x.key,
      state = CASE WHEN x.cancel::bool THEN 'cancelled' WHEN x.pending > 0 THEN 'blocked'
        ELSE j.state END,
      finished_at = CASE WHEN x.cancel::bool THEN now() END,
      dead_reason = CASE WHEN x.cancel::bool THEN 'PARENT_FAILED' END,
      released_at = CASE WHEN x.pending = 0 AND NOT x.cancel::bool THEN now() END
    FROM unnest(${ids}::bigint[], ${pending}::int[], ${policies}::text[], ${cancel}::text[],
      ${keys}::text[]) AS x(id, pending, policy, cancel, key)
    WHERE j.id = x.id`;
}

export interface ParentResult {
  id: string;
  /** The parent's workflow node key, when both are nodes of one workflow. */
  key: string | null;
  state: JobState;
  result: unknown;
}

/**
 * The parents of each job in `ids`, with their results (from the archive too): what a handler
 * reads through `ctx.parents()`, and the pull API's `parents` field.
 */
export async function parentResults(
  sql: Db,
  ids: readonly string[],
): Promise<Map<string, ParentResult[]>> {
  const out = new Map<string, ParentResult[]>();
  if (ids.length === 0) return out;
  const rows = await sql<
    { child_id: string; id: string; key: string | null; state: JobState; result: unknown }[]
  >`
    SELECT d.child_id, d.parent_id AS id, p.workflow_key AS key, p.state, p.result
    FROM sluice.job_dependencies d
    CROSS JOIN LATERAL (
      SELECT workflow_key, state, result FROM sluice.jobs WHERE id = d.parent_id
      UNION ALL
      SELECT workflow_key, state, result FROM sluice.jobs_archive WHERE id = d.parent_id
      LIMIT 1
    ) p
    WHERE d.child_id = ANY(${ids as string[]}::bigint[])
    ORDER BY d.child_id, d.parent_id`;
  for (const r of rows) {
    const list = out.get(String(r.child_id)) ?? [];
    list.push({ id: String(r.id), key: r.key, state: r.state, result: r.result ?? null });
    out.set(String(r.child_id), list);
  }
  return out;
}

export interface Blockers {
  total: number;
  /** Parents that have not succeeded, oldest first: what the child waits for. */
  waitingFor: { id: string; state: JobState | "missing" }[];
  policy: ParentFailurePolicy;
}

/** Why a blocked job waits: for explain. */
export async function blockersOf(sql: Db, id: string): Promise<Blockers> {
  const rows = await sql<{ id: string; state: JobState | null; archived: boolean }[]>`
    SELECT d.parent_id AS id, j.state, a.id IS NOT NULL AS archived
    FROM sluice.job_dependencies d
    LEFT JOIN sluice.jobs j ON j.id = d.parent_id
    LEFT JOIN sluice.jobs_archive a ON a.id = d.parent_id
    WHERE d.child_id = ${id}
    ORDER BY d.parent_id`;
  const [row] = await sql<{ policy: ParentFailurePolicy | null }[]>`
    SELECT on_parent_failure AS policy FROM sluice.jobs WHERE id = ${id}`;
  return {
    total: rows.length,
    waitingFor: rows.filter((r) => r.state !== "succeeded" && !r.archived).map((r) => ({
      id: String(r.id),
      state: r.state ?? "missing",
    })),
    policy: row?.policy ?? "cancel",
  };
}

/** Explain for a blocked job: WAITING_FOR_PARENTS, "waiting for 2 of 3 parents: 41, 43". */
export async function explainBlocked(
  sql: Db,
  job: { id: string },
): Promise<{ code: string; sentence: string; facts: Record<string, unknown> }> {
  const b = await blockersOf(sql, job.id);
  const failed = b.waitingFor.filter((p) => p.state === "dead" || p.state === "cancelled");
  const list = b.waitingFor.map((p) => p.id).join(", ");
  const replay = failed.length > 0
    ? `; ${failed.map((p) => `${p.id} is ${p.state}`).join(", ")}: replay ${
      failed.length > 1 ? "them" : "it"
    } to go on (onParentFailure: ${b.policy})`
    : "";
  return {
    code: "WAITING_FOR_PARENTS",
    sentence:
      `Job ${job.id} is waiting for ${b.waitingFor.length} of ${b.total} parents: ${list}${replay}.`,
    facts: { parents: b.total, waitingFor: b.waitingFor, onParentFailure: b.policy },
  };
}
