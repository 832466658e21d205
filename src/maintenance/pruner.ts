import type { Db } from "../db/connect.ts";
import { pruneKeyTurns } from "../queue/key_limits.ts";
import { pruneThrottleWindows } from "../queue/throttle.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * Deletes history older than `olderThanMs` (SLUICE_PRUNE_HISTORY_AFTER), in batches:
 * - archived jobs (succeeded jobs already moved out by the archiver);
 * - dead and cancelled jobs still in sluice.jobs: the DLQ keeps a job for the same horizon,
 *   long enough to replay it, then it goes (a replayed copy is a new job and lives on);
 * - alert events, policy decisions, callback events and callback refusal counts;
 * - throttle windows that ended, and the turns of keys not served, before the horizon.
 * Unfinished jobs are never deleted, whatever their age.
 */
export async function pruneHistory(
  sql: Db,
  { olderThanMs, batchSize = 5_000, now = null }: {
    olderThanMs: number;
    batchSize?: number;
    now?: Date | null;
  },
): Promise<Record<string, number>> {
  const [{ cutoff }] = await sql<[{ cutoff: Date }]>`
    SELECT coalesce(${now}::timestamptz, now()) - ${olderThanMs} * interval '1 millisecond'
      AS cutoff`;
  const drain = async (step: () => Promise<number>) => {
    let total = 0;
    for (;;) {
      const n = await step();
      total += n;
      if (n < batchSize) return total;
    }
  };
  const archive = await drain(async () =>
    (await sql`
      DELETE FROM sluice.jobs_archive WHERE id IN (
        SELECT id FROM sluice.jobs_archive WHERE finished_at < ${cutoff}
        ORDER BY finished_at LIMIT ${batchSize})
      RETURNING 1`).length
  );
  const finished = await drain(async () =>
    (await sql`
      DELETE FROM sluice.jobs WHERE id IN (
        SELECT id FROM sluice.jobs
        WHERE state IN ('dead', 'cancelled') AND finished_at < ${cutoff}
        ORDER BY finished_at LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED)
      RETURNING 1`).length
  );
  const alertEvents = await drain(async () =>
    (await sql`
      DELETE FROM sluice.alert_events WHERE id IN (
        SELECT id FROM sluice.alert_events WHERE at < ${cutoff} ORDER BY at LIMIT ${batchSize})
      RETURNING 1`).length
  );
  const policyDecisions = await drain(async () =>
    (await sql`
      DELETE FROM sluice.policy_decisions WHERE id IN (
        SELECT id FROM sluice.policy_decisions WHERE at < ${cutoff} ORDER BY at LIMIT ${batchSize})
      RETURNING 1`).length
  );
  // A callback's event id only guards against replays within the signature tolerance; keeping
  // it for the history horizon is generous, and the table must not grow forever.
  const callbackEvents = await drain(async () =>
    (await sql`
      DELETE FROM sluice.callback_events WHERE event_id IN (
        SELECT event_id FROM sluice.callback_events WHERE received_at < ${cutoff}
        ORDER BY received_at LIMIT ${batchSize})
      RETURNING 1`).length
  );
  const callbackRefusals = await drain(async () =>
    (await sql`
      DELETE FROM sluice.callback_refusals WHERE (minute, code) IN (
        SELECT minute, code FROM sluice.callback_refusals WHERE minute < ${cutoff}
        ORDER BY minute LIMIT ${batchSize})
      RETURNING 1`).length
  );
  return {
    archive,
    finished,
    alert_events: alertEvents,
    policy_decisions: policyDecisions,
    callback_events: callbackEvents,
    callback_refusals: callbackRefusals,
    throttle_windows: await pruneThrottleWindows(sql, cutoff),
    key_turns: await pruneKeyTurns(sql, cutoff),
  };
}

/** The pruner service: SLUICE_PRUNE_HISTORY_AFTER is `olderThanMs`. */
export function pruner(
  { everyMs, olderThanMs }: Every & { olderThanMs: number },
): MaintenanceService {
  return {
    name: "pruner",
    everyMs,
    run: (sql, { now }) => pruneHistory(sql, { olderThanMs, now }),
  };
}
