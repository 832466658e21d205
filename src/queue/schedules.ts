/**
 * Cron schedules: the engine behind `sluice schedule …` and `/v1/schedules`, and the
 * maintenance `scheduler` service (`fireDueSchedules`).
 *
 * Once per slot across every maintenance process: a due schedule row is locked (SKIP LOCKED),
 * its job is enqueued and `last_slot`/`next_slot` move on, all in one transaction. A second
 * process either skips the locked row or, after commit, sees `next_slot` in the future. The job
 * also carries the idempotency key `schedule:<name>:<slot ISO>` and the tag `schedule:<name>`.
 *
 * One schedule cannot stop the others: each fires under its own savepoint. A schedule whose job
 * is refused (its queue was deleted, its payload broke a limit lowered since) keeps its slot
 * skipped and is marked failing (`lastError`, `failingSince`, the `schedule_failing` alert)
 * until a slot fires again; the rest of the pass goes on.
 *
 * No catch-up storm: one pass fires at most one job per schedule. Slots missed while nothing
 * ran (maintenance down) are handled by the schedule's `missed` setting:
 *   skip  fire the latest due slot only if it is recent (within `graceMs`), drop older ones;
 *   once  fire one job for the latest due slot, however late.
 * Slots are computed by croner in the schedule's IANA time zone, so DST is croner's: a wall
 * time skipped in spring does not fire, an hourly schedule fires 25 times on the autumn day.
 */
import { Cron } from "croner";
import { atomically, type Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import { checkedPayloadText, enqueueJob } from "./enqueue.ts";
import { assertKind, assertQueueName } from "./names.ts";
import { storableText } from "./json_value.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults, getQueue } from "./queues.ts";

export type MissedPolicy = "skip" | "once";

export interface ScheduleInput {
  name: string;
  cron: string;
  timezone?: string;
  queue?: string;
  kind: string;
  payload?: unknown;
  missed?: MissedPolicy;
  paused?: boolean;
}

export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  queue: string;
  kind: string;
  payload: unknown;
  missed: MissedPolicy;
  paused: boolean;
  nextSlot: string | null;
  lastSlot: string | null;
  lastJobId: string | null;
  lastFiredAt: string | null;
  /** Why the last slot could not fire; null while the schedule fires. */
  lastError: string | null;
  /** The first failed slot since the last one that fired; null while the schedule fires. */
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  queue: string;
  kind: string;
  payload: unknown;
  missed: MissedPolicy;
  paused: boolean;
  next_slot: Date | null;
  last_slot: Date | null;
  last_job_id: string | null;
  last_fired_at: Date | null;
  last_error: string | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

const NAME = /^[a-z0-9]+([._:-][a-z0-9]+)*$/;
const iso = (d: Date | null) => d?.toISOString() ?? null;

function toSchedule(r: ScheduleRow): Schedule {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    queue: r.queue,
    kind: r.kind,
    payload: r.payload,
    missed: r.missed,
    paused: r.paused,
    nextSlot: iso(r.next_slot),
    lastSlot: iso(r.last_slot),
    lastJobId: r.last_job_id === null ? null : String(r.last_job_id),
    lastFiredAt: iso(r.last_fired_at),
    lastError: r.last_error,
    failingSince: iso(r.failing_since),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function scheduleNotFound(name: string): SluiceError {
  return new SluiceError("SCHEDULE_NOT_FOUND", `schedule '${name}' does not exist`, { name });
}

/** A croner job that never runs by itself: used only to compute slots. */
export function cronOf(pattern: string, timezone: string): Cron {
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
  } catch {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `time zone '${timezone}' is not an IANA time zone (e.g. Europe/Berlin, UTC)`,
      { timezone },
    );
  }
  try {
    return new Cron(pattern, { timezone, paused: true });
  } catch (e) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `cron expression '${pattern}' is invalid: ${(e as Error).message}`,
      { cron: pattern },
    );
  }
}

/** The first slot strictly after `from`, or null when the expression never fires again. */
export function nextSlot(pattern: string, timezone: string, from: Date): Date | null {
  return cronOf(pattern, timezone).nextRun(from);
}

async function dbNow(sql: Db, now: Date | null): Promise<Date> {
  if (now) return now;
  const [r] = await sql<[{ now: Date }]>`SELECT now()`;
  return r.now;
}

export async function createSchedule(
  sql: Db,
  input: ScheduleInput,
  { now = null, defaults = BUILTIN_DEFAULTS, missedDefault = "skip" }: {
    now?: Date | null;
    defaults?: EngineDefaults;
    missedDefault?: MissedPolicy;
  } = {},
): Promise<Schedule> {
  if (typeof input.name !== "string" || input.name.length > 128 || !NAME.test(input.name)) {
    throw new SluiceError(
      "VALIDATION_FAILED",
      `schedule name ${
        JSON.stringify(input.name)
      } is invalid: use lowercase letters and digits separated by '.', '_', ':' or '-'`,
      { name: input.name },
    );
  }
  const timezone = input.timezone ?? "UTC";
  const queue = assertQueueName(input.queue ?? "default");
  assertKind(input.kind);
  const payload = input.payload ?? {};
  if (Array.isArray(payload)) {
    throw new SluiceError("VALIDATION_FAILED", "payload must be a JSON object", {});
  }
  const missed = input.missed ?? missedDefault;
  if (missed !== "skip" && missed !== "once") {
    throw new SluiceError("VALIDATION_FAILED", `missed '${missed}' is not one of skip, once`, {});
  }
  // QUEUE_NOT_FOUND early, not at the first firing; then the payload exactly as its jobs will be
  // validated (depth, storable text, the queue's size limit): a payload stored here that every
  // firing refuses would fail forever.
  const payloadText = checkedPayloadText(payload, await getQueue(sql, queue, defaults));
  const next = nextSlot(input.cron, timezone, await dbNow(sql, now));
  const rows = await sql<ScheduleRow[]>`
    INSERT INTO sluice.schedules (name, cron, timezone, queue, kind, payload, missed, paused,
      next_slot)
    VALUES (${input.name}, ${input.cron}, ${timezone}, ${queue}, ${input.kind},
      ${payloadText}::text::jsonb, ${missed}, ${input.paused ?? false}, ${next})
    ON CONFLICT (name) DO NOTHING
    RETURNING *`;
  if (rows.length === 0) {
    throw new SluiceError("CONFLICT", `schedule '${input.name}' already exists`, {
      name: input.name,
    });
  }
  return toSchedule(rows[0]!);
}

export async function listSchedules(sql: Db): Promise<Schedule[]> {
  const rows = await sql<ScheduleRow[]>`SELECT * FROM sluice.schedules ORDER BY name`;
  return rows.map(toSchedule);
}

export async function getSchedule(sql: Db, name: string): Promise<Schedule> {
  const [row] = await sql<ScheduleRow[]>`SELECT * FROM sluice.schedules WHERE name = ${name}`;
  if (!row) throw scheduleNotFound(name);
  return toSchedule(row);
}

/** Pausing keeps the row; resuming starts from the next slot after now (no backlog). */
export async function setSchedulePaused(
  sql: Db,
  name: string,
  paused: boolean,
  { now = null }: { now?: Date | null } = {},
): Promise<Schedule> {
  const current = await getSchedule(sql, name);
  const next = paused
    ? current.nextSlot
    : nextSlot(current.cron, current.timezone, await dbNow(sql, now));
  const [row] = await sql<ScheduleRow[]>`
    UPDATE sluice.schedules SET paused = ${paused}, next_slot = ${next}, updated_at = now()
    WHERE name = ${name} RETURNING *`;
  if (!row) throw scheduleNotFound(name);
  return toSchedule(row);
}

export async function deleteSchedule(sql: Db, name: string): Promise<void> {
  const rows = await sql`DELETE FROM sluice.schedules WHERE name = ${name} RETURNING 1`;
  if (rows.length === 0) throw scheduleNotFound(name);
}

/**
 * Fires a schedule once now, outside its cron ("run now"): a job like its slots' (same queue,
 * kind, payload, tag and creator) without an idempotency key, so it never collides with a slot's
 * job. The next slot is untouched; a paused schedule can be run now too (the operator asked).
 */
export async function runScheduleNow(
  sql: Db,
  name: string,
  { defaults }: { defaults?: EngineDefaults } = {},
): Promise<{ schedule: Schedule; jobId: string }> {
  return await atomically(sql, async (t) => {
    const [s] = await t<ScheduleRow[]>`
      SELECT * FROM sluice.schedules WHERE name = ${name} FOR UPDATE`;
    if (!s) throw scheduleNotFound(name);
    const { job } = await enqueueJob(t, {
      queue: s.queue,
      kind: s.kind,
      payload: s.payload,
      tags: [`schedule:${s.name}`],
      createdBy: `schedule:${s.name}`,
    }, { defaults });
    const [row] = await t<ScheduleRow[]>`
      UPDATE sluice.schedules SET last_job_id = ${job.id}, last_fired_at = now()
      WHERE name = ${name} RETURNING *`;
    return { schedule: toSchedule(row!), jobId: job.id };
  });
}

export interface FireResult {
  fired: number;
  /** Schedules whose due slots were all dropped (missed = skip, too late). */
  skipped: number;
  /** Schedules whose slot could not fire (marked failing; the others went on). */
  failed: number;
}

/** Fires (or skips) one due schedule's latest slot and moves it to its next slot. */
async function fireOne(
  t: Db,
  s: ScheduleRow,
  at: Date,
  graceMs: number,
  defaults: EngineDefaults,
): Promise<{ fired: boolean }> {
  const cron = cronOf(s.cron, s.timezone);
  // The latest slot at or before `at` (a slot exactly at `at` counts).
  const latest = cron.previousRuns(1, new Date(at.getTime() + 1))[0] ?? s.next_slot!;
  const slot = latest < s.next_slot! ? s.next_slot! : latest;
  const fire = s.missed === "once" || at.getTime() - slot.getTime() <= graceMs;
  let jobId: string | null = null;
  if (fire) {
    const { job } = await enqueueJob(t, {
      queue: s.queue,
      kind: s.kind,
      payload: s.payload,
      idempotencyKey: `schedule:${s.name}:${slot.toISOString()}`,
      tags: [`schedule:${s.name}`],
      createdBy: `schedule:${s.name}`,
    }, { defaults });
    jobId = job.id;
  }
  // A skipped slot leaves a failing mark alone: only a job that was created clears it.
  await t`
    UPDATE sluice.schedules SET last_slot = ${slot}, next_slot = ${cron.nextRun(at)},
      last_job_id = coalesce(${jobId}::bigint, last_job_id),
      last_fired_at = CASE WHEN ${jobId}::bigint IS NULL THEN last_fired_at ELSE ${at} END,
      last_error = CASE WHEN ${jobId}::bigint IS NULL THEN last_error END,
      failing_since = CASE WHEN ${jobId}::bigint IS NULL THEN failing_since END
    WHERE name = ${s.name}`;
  return { fired: jobId !== null };
}

/**
 * Records why a schedule's slot could not fire and moves it past that slot, so it is tried
 * again at its next slot instead of blocking every pass (a stuck `next_slot` would be due, and
 * fail, forever). A schedule whose cron cannot be computed any more gets no next slot.
 */
async function markFailing(t: Db, s: ScheduleRow, at: Date, error: unknown): Promise<void> {
  const reason = error instanceof SluiceError
    ? `${error.code}: ${error.message}`
    : `INTERNAL: ${error instanceof Error ? error.message : String(error)}`;
  let next: Date | null = null;
  try {
    next = cronOf(s.cron, s.timezone).nextRun(at);
  } catch { /* stays null: never due again until it is recreated */ }
  await t`
    UPDATE sluice.schedules SET next_slot = ${next}, last_error = ${
    storableText(reason).slice(0, 2000)
  },
      failing_since = coalesce(failing_since, ${at})
    WHERE name = ${s.name}`;
}

/**
 * Fires every due, unpaused schedule once (see the module comment). Batches of 100 schedules
 * per transaction until none is due.
 */
export async function fireDueSchedules(
  sql: Db,
  { now = null, graceMs = 60_000, defaults = BUILTIN_DEFAULTS, batchSize = 100 }: {
    now?: Date | null;
    graceMs?: number;
    defaults?: EngineDefaults;
    batchSize?: number;
  } = {},
): Promise<FireResult> {
  let fired = 0, skipped = 0, failed = 0;
  for (;;) {
    const n = await atomically(sql, async (t) => {
      const at = await dbNow(t, now);
      const due = await t<ScheduleRow[]>`
        SELECT * FROM sluice.schedules
        WHERE NOT paused AND next_slot <= ${at}
        ORDER BY next_slot LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED`;
      for (const s of due) {
        // A savepoint per schedule: a failure rolls back this schedule's firing only.
        const outcome = await t.savepoint((sp) => fireOne(sp, s, at, graceMs, defaults)).catch((
          e: unknown,
        ) => ({ error: e }));
        if ("error" in outcome) {
          await markFailing(t, s, at, outcome.error);
          failed++;
        } else if (outcome.fired) fired++;
        else skipped++;
      }
      return due.length;
    });
    if (n < batchSize) return { fired, skipped, failed };
  }
}

/** Schedules whose last slot could not fire, oldest failure first (the schedule_failing alert). */
export async function failingSchedules(
  sql: Db,
): Promise<{ name: string; lastError: string | null; failingSince: string | null }[]> {
  const rows = await sql<Pick<ScheduleRow, "name" | "last_error" | "failing_since">[]>`
    SELECT name, last_error, failing_since FROM sluice.schedules
    WHERE failing_since IS NOT NULL ORDER BY failing_since, name`;
  return rows.map((r) => ({
    name: r.name,
    lastError: r.last_error,
    failingSince: iso(r.failing_since),
  }));
}

/** For the ops view: how many schedules, paused, and the next firing. */
export async function schedulerHealth(
  sql: Db,
): Promise<{ schedules: number; paused: number; nextFireAt: string | null; overdue: number }> {
  const [r] = await sql<
    [{ schedules: number; paused: number; next: Date | null; overdue: number }]
  >`
    SELECT count(*)::int AS schedules, count(*) FILTER (WHERE paused)::int AS paused,
      min(next_slot) FILTER (WHERE NOT paused) AS next,
      count(*) FILTER (WHERE NOT paused AND next_slot < now() - interval '1 minute')::int AS overdue
    FROM sluice.schedules`;
  return { schedules: r.schedules, paused: r.paused, nextFireAt: iso(r.next), overdue: r.overdue };
}
