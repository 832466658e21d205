import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { isJobId } from "./inspect.ts";

/**
 * One denied enqueue (`sluice.policy_decisions`), as `/v1/ingest/decisions` shows it; also one
 * that a throttle or debounce answered with an earlier job (THROTTLED, DEBOUNCED).
 */
export interface PolicyDecision {
  id: string;
  at: string;
  queue: string | null;
  code: string;
  detail: string;
  tokenName: string | null;
}

interface DecisionRow {
  id: string;
  at: Date;
  queue: string | null;
  code: string;
  detail: string;
  token_name: string | null;
}

export async function recordDecision(
  sql: Db,
  d: { queue: string | null; code: string; detail: string; tokenName: string | null },
): Promise<void> {
  // Bad input may name an absurd queue; the row keeps a bounded, printable prefix of it.
  const queue = d.queue === null ? null : d.queue.replaceAll("\u0000", "").slice(0, 200);
  await sql`
    INSERT INTO sluice.policy_decisions (queue, code, detail, token_name)
    VALUES (${queue}, ${d.code}, ${
    d.detail.replaceAll("\u0000", "").slice(0, 2000)
  }, ${d.tokenName})`;
}

export interface DecisionFilter {
  queue?: string | null;
  code?: string | null;
  tokenName?: string | null;
  since?: Date | null;
  /** Cursor: only decisions with a smaller id (newest first). */
  before?: string | null;
  limit?: number;
}

export async function listDecisions(
  sql: Db,
  f: DecisionFilter = {},
): Promise<{ decisions: PolicyDecision[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 500);
  if (f.before != null && !isJobId(f.before)) {
    throw new SluiceError("VALIDATION_FAILED", `cursor '${f.before}' is not a decision id`);
  }
  const rows = await sql<DecisionRow[]>`
    SELECT id, at, queue, code, detail, token_name FROM sluice.policy_decisions WHERE true
      ${f.queue != null ? sql`AND queue = ${f.queue}` : sql``}
      ${f.code != null ? sql`AND code = ${f.code}` : sql``}
      ${f.tokenName != null ? sql`AND token_name = ${f.tokenName}` : sql``}
      ${f.since != null ? sql`AND at >= ${f.since}` : sql``}
      ${f.before != null ? sql`AND id < ${f.before}` : sql``}
    ORDER BY id DESC LIMIT ${limit + 1}`;
  const decisions = rows.slice(0, limit).map((r) => ({
    id: String(r.id),
    at: r.at.toISOString(),
    queue: r.queue,
    code: r.code,
    detail: r.detail,
    tokenName: r.token_name,
  }));
  return { decisions, nextCursor: rows.length > limit ? decisions.at(-1)!.id : null };
}
