/** A dependent job's own timeline entries (kept apart: inspect.ts imports it). */
import type { Db } from "../db/connect.ts";
import type { Job } from "./job.ts";

/**
 * Timeline entries of a job with parents: `blocked` at enqueue (which parents), `released` when
 * the last one finished. Nothing (and no query) for a job without parents.
 */
export async function dependencyTimeline(
  sql: Db,
  job: Job,
): Promise<{ at: string; event: "blocked" | "released"; detail: Record<string, unknown> }[]> {
  const c = job.composition;
  if (!c || c.parentsPending === null) return [];
  const parents = await sql<{ id: string }[]>`
    SELECT parent_id AS id FROM sluice.job_dependencies WHERE child_id = ${job.id}
    ORDER BY parent_id`;
  const out: { at: string; event: "blocked" | "released"; detail: Record<string, unknown> }[] = [{
    at: job.createdAt,
    event: "blocked",
    detail: { parents: parents.map((p) => String(p.id)), onParentFailure: c.onParentFailure },
  }];
  if (c.releasedAt) out.push({ at: c.releasedAt, event: "released", detail: {} });
  return out;
}
