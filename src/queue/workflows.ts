/**
 * Workflows: a DAG of jobs created in one transaction. Nodes have keys; `dependsOn` names keys
 * of the same workflow. The graph is checked before anything is written (unknown keys, cycles),
 * every node is inserted by enqueueJobs (validation and admission as for any job), and the
 * edges are attached like any dependency (src/queue/dependencies.ts). A workflow's state is
 * derived from its nodes' latest jobs (a replay of a node takes its place).
 */
import { atomically, type Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import {
  attach,
  type DependentInput,
  lockParents,
  type ParentFailurePolicy,
  plainInput,
} from "./dependencies.ts";
import { enqueueJobs, type EnqueueOptions } from "./enqueue.ts";
import type { JobState } from "./job.ts";

export const WORKFLOW_STATES = ["running", "succeeded", "failed", "cancelled"] as const;
export type WorkflowState = typeof WORKFLOW_STATES[number];

export interface WorkflowNodeInput extends Omit<DependentInput, "dependsOn" | "idempotencyKey"> {
  key: string;
  /** Keys of nodes of this workflow. */
  dependsOn?: readonly string[];
  onParentFailure?: ParentFailurePolicy;
}

export interface WorkflowInput {
  name: string;
  jobs: readonly WorkflowNodeInput[];
  createdBy?: string | null;
  /** The producer whose workflow it is (null/'' for admin tokens and library calls). */
  owner?: string | null;
}

export interface WorkflowNode {
  key: string;
  jobId: string;
  state: JobState;
  kind: string;
  queue: string;
  dependsOn: string[];
  /** Older jobs of this node (replayed): newest last. */
  previousJobIds: string[];
}

export interface Workflow {
  id: string;
  name: string;
  state: WorkflowState;
  createdAt: string;
  createdBy: string | null;
  cancelledAt: string | null;
  counts: Partial<Record<JobState, number>>;
  nodes: WorkflowNode[];
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const MAX_WORKFLOW_NODES = 1_000;

function invalid(message: string, details: Record<string, unknown> = {}): SluiceError {
  return new SluiceError("WORKFLOW_INVALID", message, details);
}

export function workflowNotFound(id: string): SluiceError {
  return new SluiceError("WORKFLOW_NOT_FOUND", `workflow ${id} does not exist`, { workflowId: id });
}

/**
 * The nodes in an order where every node comes after its parents (Kahn's algorithm), or the
 * refusal: duplicate or malformed keys, unknown keys, a cycle (named by the keys on it).
 */
export function topologicalOrder(nodes: readonly WorkflowNodeInput[]): number[] {
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    if (typeof n.key !== "string" || !KEY.test(n.key)) {
      throw invalid(`jobs.${i}.key must be 1 to 64 letters, digits, '.', '_', ':' or '-'`, {
        index: i,
      });
    }
    if (index.has(n.key)) throw invalid(`key '${n.key}' is used twice`, { key: n.key });
    index.set(n.key, i);
  });
  const children = nodes.map(() => [] as number[]);
  const indegree = nodes.map(() => 0);
  nodes.forEach((n, i) => {
    for (const k of new Set(n.dependsOn ?? [])) {
      const p = index.get(k);
      if (p === undefined) {
        throw invalid(`'${n.key}' depends on '${k}', which is not a key of this workflow`, {
          key: n.key,
          dependsOn: k,
        });
      }
      children[p]!.push(i);
      indegree[i]!++;
    }
  });
  const order: number[] = [];
  const ready = indegree.flatMap((d, i) => (d === 0 ? [i] : []));
  while (ready.length > 0) {
    const i = ready.shift()!;
    order.push(i);
    for (const c of children[i]!) if (--indegree[c]! === 0) ready.push(c);
  }
  if (order.length < nodes.length) {
    const cycle = nodes.filter((_, i) => indegree[i]! > 0).map((n) => n.key);
    throw invalid(`the workflow has a cycle through ${cycle.map((k) => `'${k}'`).join(", ")}`, {
      cycle,
    });
  }
  return order;
}

/** Creates the workflow and all its jobs atomically; returns it with every node's job id. */
export async function createWorkflow(
  sql: Db,
  input: WorkflowInput,
  opts: EnqueueOptions = {},
): Promise<Workflow> {
  if (typeof input.name !== "string" || input.name.length < 1 || input.name.length > 128) {
    throw invalid("name must be 1 to 128 characters");
  }
  if (!Array.isArray(input.jobs) || input.jobs.length === 0) {
    throw invalid("a workflow needs at least one job");
  }
  if (input.jobs.length > MAX_WORKFLOW_NODES) {
    throw invalid(`a workflow has at most ${MAX_WORKFLOW_NODES} jobs`, { size: input.jobs.length });
  }
  const order = topologicalOrder(input.jobs);
  const nodes = order.map((i) => input.jobs[i]!);
  const id = await atomically(sql, async (tx) => {
    const [wf] = await tx<{ id: string }[]>`
      INSERT INTO sluice.workflows (name, created_by, owner)
      VALUES (${input.name}, ${input.createdBy ?? null}, ${input.owner ?? ""})
      RETURNING id`;
    const inputs = nodes.map((n) => {
      const { key: _k, ...job } = n;
      return plainInput({
        ...job,
        dependsOn: undefined,
        owner: input.owner,
        createdBy: input.createdBy ?? job.createdBy,
      });
    });
    const results = await enqueueJobs(tx, inputs, opts);
    const idOf = new Map(nodes.map((n, i) => [n.key, results[i]!.job.id]));
    const parents = nodes.map((n) => [...new Set(n.dependsOn ?? [])].map((k) => idOf.get(k)!));
    const states = await lockParents(tx, parents.flat(), null);
    await attach(tx, results, nodes.map((n) => ({ ...n, dependsOn: undefined })), parents, states, {
      workflowId: String(wf!.id),
      keys: nodes.map((n) => n.key),
    });
    return String(wf!.id);
  });
  return await getWorkflow(sql, id);
}

interface WorkflowRow {
  id: string;
  name: string;
  created_by: string | null;
  cancelled_at: Date | null;
  created_at: Date;
}

interface NodeRow {
  workflow_id: string;
  id: string;
  key: string;
  state: JobState;
  kind: string;
  queue: string;
  parents: string[] | null;
}

/** The nodes of the given workflows: every job of each key, the archive included. */
async function nodesOf(sql: Db, ids: readonly string[]): Promise<Map<string, WorkflowNode[]>> {
  const rows = await sql<NodeRow[]>`
    WITH n AS (
      SELECT workflow_id, id, workflow_key, state, kind, queue FROM sluice.jobs
      WHERE workflow_id = ANY(${ids as string[]}::bigint[])
      UNION ALL
      SELECT workflow_id, id, workflow_key, state, kind, queue FROM sluice.jobs_archive
      WHERE workflow_id = ANY(${ids as string[]}::bigint[])
    )
    SELECT n.workflow_id, n.id, n.workflow_key AS key, n.state, n.kind, n.queue,
      (SELECT array_agg(d.parent_id::text ORDER BY d.parent_id) FROM sluice.job_dependencies d
        WHERE d.child_id = n.id) AS parents
    FROM n ORDER BY n.workflow_id, n.id`;
  const out = new Map<string, WorkflowNode[]>();
  const keyOfJob = new Map<string, string>();
  for (const r of rows) keyOfJob.set(String(r.id), r.key);
  for (const r of rows) {
    const wf = String(r.workflow_id);
    const list = out.get(wf) ?? [];
    const existing = list.find((n) => n.key === r.key);
    const node: WorkflowNode = {
      key: r.key,
      jobId: String(r.id),
      state: r.state,
      kind: r.kind,
      queue: r.queue,
      dependsOn: [...new Set((r.parents ?? []).map((p) => keyOfJob.get(p) ?? p))],
      previousJobIds: [],
    };
    if (existing) {
      // Ids grow: a later row of the same key is its replay, and takes over the node.
      node.previousJobIds = [...existing.previousJobIds, existing.jobId];
      if (node.dependsOn.length === 0) node.dependsOn = existing.dependsOn;
      list[list.indexOf(existing)] = node;
    } else list.push(node);
    out.set(wf, list);
  }
  return out;
}

const FINISHED: readonly JobState[] = ["succeeded", "dead", "cancelled"];

export function workflowState(
  cancelledAt: Date | null,
  nodes: readonly WorkflowNode[],
): WorkflowState {
  if (nodes.some((n) => !FINISHED.includes(n.state))) return "running";
  if (nodes.every((n) => n.state === "succeeded")) return "succeeded";
  return cancelledAt ? "cancelled" : "failed";
}

function toWorkflow(row: WorkflowRow, nodes: WorkflowNode[]): Workflow {
  const counts: Partial<Record<JobState, number>> = {};
  for (const n of nodes) counts[n.state] = (counts[n.state] ?? 0) + 1;
  return {
    id: String(row.id),
    name: row.name,
    state: workflowState(row.cancelled_at, nodes),
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    cancelledAt: row.cancelled_at?.toISOString() ?? null,
    counts,
    nodes,
  };
}

function ownerFilter(sql: Db, ownedBy: string | null | undefined) {
  return ownedBy != null ? sql`AND created_by = ${ownedBy}` : sql``;
}

export async function getWorkflow(
  sql: Db,
  id: string,
  opts: { ownedBy?: string | null } = {},
): Promise<Workflow> {
  if (!/^[1-9][0-9]{0,18}$/.test(id)) throw workflowNotFound(id);
  const [row] = await sql<WorkflowRow[]>`
    SELECT id, name, created_by, cancelled_at, created_at FROM sluice.workflows
    WHERE id = ${id} ${ownerFilter(sql, opts.ownedBy)}`;
  if (!row) throw workflowNotFound(id);
  const nodes = await nodesOf(sql, [id]);
  return toWorkflow(row, nodes.get(id) ?? []);
}

export interface WorkflowFilter {
  name?: string;
  state?: WorkflowState;
  /** Workflows with an id below this (the next page). */
  before?: string;
  limit?: number;
  ownedBy?: string | null;
}

/**
 * Newest first. The state filter is applied to each page read (states are derived from the
 * nodes), so a page may hold fewer than `limit` workflows; `next` continues.
 */
export async function listWorkflows(
  sql: Db,
  f: WorkflowFilter = {},
): Promise<{ workflows: Omit<Workflow, "nodes">[]; next: string | null }> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
  const rows = await sql<WorkflowRow[]>`
    SELECT id, name, created_by, cancelled_at, created_at FROM sluice.workflows
    WHERE true ${f.name ? sql`AND name = ${f.name}` : sql``}
      ${f.before ? sql`AND id < ${f.before}::bigint` : sql``}
      ${ownerFilter(sql, f.ownedBy)}
    ORDER BY id DESC LIMIT ${limit}`;
  const nodes = await nodesOf(sql, rows.map((r) => String(r.id)));
  const workflows = rows.map((r) => {
    const { nodes: _n, ...wf } = toWorkflow(r, nodes.get(String(r.id)) ?? []);
    return wf;
  }).filter((w) => !f.state || w.state === f.state);
  return { workflows, next: rows.length === limit ? String(rows.at(-1)!.id) : null };
}

/**
 * Cancels what has not finished: waiting nodes end cancelled now (their children by their
 * policy, through the trigger), running ones are asked to stop at their next heartbeat.
 */
export async function cancelWorkflow(
  sql: Db,
  id: string,
  opts: { ownedBy?: string | null } = {},
): Promise<Workflow> {
  await getWorkflow(sql, id, opts);
  await atomically(sql, async (tx) => {
    await tx`UPDATE sluice.workflows SET cancelled_at = coalesce(cancelled_at, now())
      WHERE id = ${id}`;
    // One statement: the trigger of a cancelled parent runs after it and finds its children
    // already cancelled (by the operator), so none is recorded as PARENT_FAILED.
    await tx`
      UPDATE sluice.jobs SET
        state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
        cancel_requested = (state = 'running'),
        finished_at = CASE WHEN state = 'running' THEN NULL ELSE now() END
      WHERE workflow_id = ${id}
        AND state IN ('blocked', 'scheduled', 'available', 'retrying', 'running')`;
  });
  return await getWorkflow(sql, id, opts);
}
