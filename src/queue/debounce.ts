/**
 * Debounce (docs/flow-control.md): while a job of (queue, owner, debounce key) still waits
 * (scheduled or available), a new enqueue with the key replaces its payload and pushes its run
 * time back to now + delay; one job runs after the quiet period.
 *
 * Why it is safe against a worker leasing the job: the upsert's arbiter is the partial unique
 * index `jobs_debounce_idx` (waiting states only). A lease that got the row first moves it to
 * `running`, out of that index, so the enqueue finds no conflict and inserts a new job; an
 * upsert that got the row first makes it `scheduled` again, and the lease, which re-checks
 * `state = 'available'` on the row it waited for, skips it. Two concurrent enqueues meet on the
 * index entry: one inserts, the other updates that row.
 */
import type { Tx } from "../db/connect.ts";
import { recordDecision } from "./decisions.ts";
import type { DebounceInput } from "./flow_input.ts";

export interface DebouncedRow {
  queue: string;
  kind: string;
  payloadText: string;
  priority: number;
  max_attempts: number;
  timeout_ms: number | null;
  key_owner: string;
  tags: string[];
  created_by: string | null;
  concurrency_key: string | null;
  debounce: DebounceInput | null;
}

/** Inserts the debounced job, or moves the waiting one: its id and whether it is new. */
export async function upsertDebounced(
  tx: Tx,
  row: DebouncedRow & { debounce: DebounceInput },
): Promise<{ id: string; inserted: boolean }> {
  const [r] = await tx<{ id: string; inserted: boolean }[]>`
    INSERT INTO sluice.jobs (
      queue, kind, payload, state, priority, run_at, max_attempts, timeout_ms,
      key_owner, tags, created_by, concurrency_key, debounce_key
    ) VALUES (
      ${row.queue}, ${row.kind}, ${row.payloadText}::text::jsonb, 'scheduled', ${row.priority},
      now() + ${row.debounce.delayMs} * interval '1 millisecond', ${row.max_attempts},
      ${row.timeout_ms}, ${row.key_owner}, ${row.tags}::text[], ${row.created_by},
      ${row.concurrency_key}, ${row.debounce.key}
    )
    ON CONFLICT (queue, key_owner, debounce_key)
      WHERE debounce_key IS NOT NULL AND state IN ('scheduled', 'available')
    DO UPDATE SET payload = EXCLUDED.payload, run_at = EXCLUDED.run_at, state = 'scheduled'
    RETURNING id, xmax::text = '0' AS inserted`;
  return { id: String(r!.id), inserted: r!.inserted };
}

/** The decisions-log row of an enqueue that moved a waiting job instead of adding one. */
export async function recordDebounced(tx: Tx, row: DebouncedRow, jobId: string): Promise<void> {
  await recordDecision(tx, {
    queue: row.queue,
    code: "DEBOUNCED",
    detail: `debounce key ${row.debounce?.key}: replaced the payload of waiting job ${jobId} ` +
      `and moved its run time to ${row.debounce?.delayMs} ms from now`,
    tokenName: row.created_by,
  });
}
