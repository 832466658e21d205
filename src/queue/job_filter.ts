/**
 * The filter behind job search, counts and bulk actions: one set of predicates so a bulk
 * action acts on exactly the jobs the list and its count showed.
 */
import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { isJobId, JOB_STATES, type JobState } from "./job.ts";
import { jsonValueProblem } from "./json_value.ts";
import { queueNotFound } from "./queues.ts";

export interface JobFilter {
  queue?: string | null;
  state?: JobState | null;
  kind?: string | null;
  /** Kinds starting with this text (`report.` finds `report.render` and `report.mail`). */
  kindPrefix?: string | null;
  tag?: string | null;
  /** A dead job's reason, such as `DEAD_MAX_ATTEMPTS`. */
  reason?: string | null;
  /** JSON containment (`{"a":1}`) or a path = value (`customer.id=42`); see parsePayloadQuery. */
  payload?: string | null;
  /** ISO times, inclusive lower and exclusive upper bound on created_at. */
  createdAfter?: string | null;
  createdBefore?: string | null;
  ownedBy?: string | null;
  retryOf?: string | null;
  /** Only jobs with an id up to this one: a count's `upTo`, so a bulk action skips newer jobs. */
  upTo?: string | null;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function invalid(path: string, message: string): SluiceError {
  return new SluiceError("VALIDATION_FAILED", `${path} ${message}`, {
    issues: [{ path, message, code: "invalid_format" }],
  });
}

/**
 * The jsonb documents a payload query matches by containment (any of them). Both forms become
 * containment so one GIN index (jsonb_path_ops, migrations/0016) serves them. In the path form
 * a value that reads as JSON (`42`, `true`, `"x"`) is that value; a bare number or boolean also
 * matches its text (`customer.id=42` finds `{"customer":{"id":"42"}}` too, as an operator
 * typing it means); anything else is text.
 */
export function parsePayloadQuery(text: string): Json[] {
  const q = text.trim();
  if (q.startsWith("{") || q.startsWith("[")) {
    let doc: Json;
    try {
      doc = JSON.parse(q);
    } catch {
      throw invalid("payload", 'is not valid JSON: use {"key":value} or path.to.key=value');
    }
    const problem = jsonValueProblem(doc);
    if (problem) throw invalid("payload", problem);
    return [doc];
  }
  const eq = q.indexOf("=");
  if (eq <= 0) throw invalid("payload", "must be a JSON object or path.to.key=value");
  const path = q.slice(0, eq).trim().split(".");
  if (path.some((k) => k === "")) throw invalid("payload", `path '${q.slice(0, eq)}' is empty`);
  const raw = q.slice(eq + 1).trim();
  let value: Json;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const values = typeof value === "string" || typeof value === "object" ? [value] : [value, raw];
  for (const v of values) {
    const problem = jsonValueProblem(v);
    if (problem) throw invalid("payload", problem);
  }
  return values.map((v) => path.reduceRight<Json>((inner, key) => ({ [key]: inner }), v));
}

function isoOrThrow(path: string, v: string): string {
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(path, `'${v}' is not an ISO date and time`);
  return new Date(t).toISOString();
}

/** Checks a filter's values (400s) and that its queue exists (404 QUEUE_NOT_FOUND). */
export async function checkJobFilter(sql: Db, f: JobFilter): Promise<void> {
  if (f.state != null && !JOB_STATES.includes(f.state)) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `state '${f.state}' is not one of ${JOB_STATES.join(", ")}`,
    );
  }
  for (const k of ["retryOf", "upTo"] as const) {
    const v = f[k];
    if (v != null && !isJobId(v)) throw invalid(k, `'${v}' is not a job id`);
  }
  if (f.payload != null) parsePayloadQuery(f.payload);
  if (f.createdAfter != null) isoOrThrow("createdAfter", f.createdAfter);
  if (f.createdBefore != null) isoOrThrow("createdBefore", f.createdBefore);
  // A misspelt queue is "no such queue", not an empty list that looks like an answer.
  if (f.queue != null) {
    const [q] = await sql`SELECT 1 FROM sluice.queues WHERE name = ${f.queue}`;
    if (!q) throw queueNotFound(f.queue);
  }
}

/** `AND …` predicates for a filter already checked by checkJobFilter. */
export function jobFilterSql(sql: Db, f: JobFilter) {
  const none = sql``;
  const docs = f.payload != null ? parsePayloadQuery(f.payload) : [];
  // One containment per alternative, OR-ed: each is a GIN probe and the planner ORs the bitmaps.
  const payload = docs.length === 0
    ? none
    : docs.length === 1
    ? sql`AND payload @> ${sql.json(docs[0]!)}`
    : sql`AND (payload @> ${sql.json(docs[0]!)} OR payload @> ${sql.json(docs[1]!)})`;
  return sql`
    ${f.queue != null ? sql`AND queue = ${f.queue}` : none}
    ${f.state != null ? sql`AND state = ${f.state}` : none}
    ${f.kind != null ? sql`AND kind = ${f.kind}` : none}
    ${f.kindPrefix != null ? sql`AND starts_with(kind, ${f.kindPrefix})` : none}
    ${f.tag != null ? sql`AND tags @> ARRAY[${f.tag}]::text[]` : none}
    ${f.reason != null ? sql`AND dead_reason = ${f.reason}` : none}
    ${payload}
    ${
    f.createdAfter != null
      ? sql`AND created_at >= ${isoOrThrow("createdAfter", f.createdAfter)}::timestamptz`
      : none
  }
    ${
    f.createdBefore != null
      ? sql`AND created_at < ${isoOrThrow("createdBefore", f.createdBefore)}::timestamptz`
      : none
  }
    ${f.ownedBy != null ? sql`AND created_by = ${f.ownedBy}` : none}
    ${f.retryOf != null ? sql`AND retry_of = ${f.retryOf}` : none}
    ${f.upTo != null ? sql`AND id <= ${f.upTo}` : none}`;
}

/**
 * The exact number of jobs a filter matches (only those in `states`, when given: what a bulk
 * action would act on), and the newest id among them (for `upTo`). With `cap`, counting stops
 * after `cap` matches and `capped` says there are more: a broad filter over a million jobs then
 * costs a bounded scan instead of a full count (bench/search.ts: 600–1,000 ms for 100,000+
 * matches at 1M jobs) on every refresh of the page.
 */
export async function countJobs(
  sql: Db,
  f: JobFilter,
  { states = null, cap = null }: { states?: readonly string[] | null; cap?: number | null } = {},
): Promise<{ count: number; upTo: string | null; capped: boolean }> {
  await checkJobFilter(sql, f);
  const [row] = await sql<{ count: string; up_to: string | null }[]>`
    SELECT count(*) AS count, max(id) AS up_to FROM (
      SELECT id FROM sluice.jobs WHERE true ${jobFilterSql(sql, f)}
        ${states ? sql`AND state = ANY(${states as string[]})` : sql``}
      ${cap != null ? sql`LIMIT ${cap + 1}` : sql``}
    ) matching`;
  const n = Number(row?.count ?? 0);
  const capped = cap != null && n > cap;
  return {
    count: capped ? cap : n,
    // Past the cap the newest match is not known (the scan stopped anywhere): no upTo.
    upTo: capped || row?.up_to == null ? null : String(row.up_to),
    capped,
  };
}
