import type { Db } from "../db/connect.ts";
import { notifyQueues } from "./outcome.ts";

/**
 * Jobs whose lease expired (their worker died or hung) go back to available with a
 * `LEASE_EXPIRED` error for the lost attempt, or dead (`DEAD_LEASE_EXPIRED`) when that was the
 * last attempt; a job waiting for its http callback gets `CALLBACK_TIMEOUT` (`DEAD_TIMEOUT`
 * on the last attempt). Only PostgreSQL's clock decides what expired. Works in batches; rows a worker is
 * completing right now are skipped and looked at again next pass, so a completion racing the
 * reaper is never reverted (the completion's fence re-checks `state = 'running'`).
 */
export async function reapExpiredLeases(
  sql: Db,
  { batchSize = 1_000, now = null }: { batchSize?: number; now?: Date | null } = {},
): Promise<{ reaped: number; dead: number }> {
  let reaped = 0, dead = 0;
  for (;;) {
    const rows = await sql<{ queue: string; state: string }[]>`
      WITH expired AS (
        SELECT id FROM sluice.jobs
        WHERE state = 'running' AND lease_expires_at < coalesce(${now}::timestamptz, now())
        ORDER BY lease_expires_at
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE sluice.jobs j SET
        state = CASE WHEN j.attempt >= j.max_attempts THEN 'dead' ELSE 'available' END,
        dead_reason = CASE WHEN j.attempt < j.max_attempts THEN NULL
          WHEN j.callback_token = j.lease_token THEN 'DEAD_TIMEOUT'
          ELSE 'DEAD_LEASE_EXPIRED' END,
        finished_at = CASE WHEN j.attempt >= j.max_attempts THEN coalesce(${now}::timestamptz, now()) END,
        run_at = CASE WHEN j.attempt >= j.max_attempts THEN j.run_at ELSE coalesce(${now}::timestamptz, now()) END,
        -- A job that answered 202 (callback_token = lease_token) is not heartbeated: its lease
        -- ran to the attempt's deadline, so expiry means the callback never came.
        errors = j.errors || jsonb_build_array(CASE WHEN j.callback_token = j.lease_token
          THEN jsonb_build_object(
          'attempt', j.attempt, 'code', 'CALLBACK_TIMEOUT',
          'message', 'no callback arrived before the attempt''s deadline at ' || j.lease_expires_at,
          'at', coalesce(${now}::timestamptz, now()), 'startedAt', j.leased_at, 'worker', j.worker_id, 'retryable', true)
          ELSE jsonb_build_object(
          'attempt', j.attempt, 'code', 'LEASE_EXPIRED',
          'message', 'the lease expired at ' || j.lease_expires_at || ' without a heartbeat from worker ' || coalesce(j.worker_id, '?'),
          'at', coalesce(${now}::timestamptz, now()), 'startedAt', j.leased_at, 'worker', j.worker_id, 'retryable', true) END),
        lease_expires_at = NULL
      FROM expired WHERE j.id = expired.id
      RETURNING j.queue, j.state`;
    reaped += rows.length;
    dead += rows.filter((r) => r.state === "dead").length;
    await notifyQueues(sql, rows.filter((r) => r.state === "available").map((r) => r.queue));
    if (rows.length < batchSize) return { reaped, dead };
  }
}
