import { deepStrictEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import {
  createSchedule,
  deleteSchedule,
  fireDueSchedules,
  listSchedules,
  setSchedulePaused,
} from "../../src/queue/schedules.ts";
import { type AlertThresholds, evaluateAlerts, opsAlerts } from "../../src/maintenance/alerts.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";

const THRESHOLDS: AlertThresholds = {
  staleHeartbeatRatio: 0.5,
  callbackFailureRatio: 0.5,
  retrySuccessRate: 0,
  successRate: 0,
  depthGrowthMs: 3_600_000,
  dlqGrowth: 1_000,
  xminHorizonMs: 3_600_000,
  deadTupleRatio: 0.99,
};

async function firedSlots(sql: Sql): Promise<string[]> {
  const rows = await sql<{ k: string }[]>`
    SELECT idempotency_key AS k FROM sluice.jobs WHERE kind = 'tick' ORDER BY id`;
  return rows.map((r) => r.k.split(":").slice(2).join(":"));
}

Deno.test("fireDueSchedules() fires an hourly schedule once per slot across a DST change", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    // 2025-11-02: New York falls back at 02:00 EDT -> 01:00 EST, so the local day has 25 hours.
    const start = new Date("2025-11-02T04:00:00Z"); // 00:00 EDT
    await createSchedule(sql, {
      name: "hourly",
      cron: "0 * * * *",
      timezone: "America/New_York",
      kind: "tick",
    }, { now: new Date(start.getTime() - 1_000) });
    // Two maintenance processes firing at every step, every 7 minutes of the local day.
    for (let t = start.getTime(); t < start.getTime() + 25 * 3_600_000; t += 7 * 60_000) {
      const now = new Date(t);
      // Steps of 7 minutes: a grace of 10 makes every slot count as on time.
      const opts = { now, graceMs: 600_000 };
      await Promise.all([fireDueSchedules(sql, opts), fireDueSchedules(sql, opts)]);
    }
    const slots = await firedSlots(sql);
    equal(slots.length, 25);
    equal(new Set(slots).size, 25);
    deepStrictEqual(
      slots.slice(0, 4),
      [
        "2025-11-02T04:00:00.000Z",
        "2025-11-02T05:00:00.000Z",
        "2025-11-02T06:00:00.000Z", // 01:00 EST, the repeated hour
        "2025-11-02T07:00:00.000Z",
      ],
    );
  });
});

Deno.test("fireDueSchedules() skips a wall time that DST removes and fires the rest once", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    // 02:30 does not exist in Berlin on 2025-03-30 (02:00 CET -> 03:00 CEST).
    const start = new Date("2025-03-28T00:00:00Z");
    await createSchedule(sql, {
      name: "nightly",
      cron: "30 2 * * *",
      timezone: "Europe/Berlin",
      kind: "tick",
    }, { now: start });
    for (let t = start.getTime(); t < start.getTime() + 4 * 86_400_000; t += 20 * 60_000) {
      await fireDueSchedules(sql, { now: new Date(t), graceMs: 30 * 60_000 });
    }
    const slots = await firedSlots(sql);
    equal(new Set(slots).size, slots.length);
    assert(
      slots.includes("2025-03-28T01:30:00.000Z") && slots.includes("2025-03-31T00:30:00.000Z"),
    );
    assert(slots.length === 3 || slots.length === 4, slots.join(", "));
  });
});

Deno.test("fireDueSchedules() never storms after downtime: skip drops, once runs one job", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const t0 = new Date("2030-01-01T00:00:30Z");
    await createSchedule(sql, { name: "s-skip", cron: "* * * * *", kind: "tick", missed: "skip" }, {
      now: t0,
    });
    await createSchedule(sql, { name: "s-once", cron: "* * * * *", kind: "tick", missed: "once" }, {
      now: t0,
    });
    // Down for an hour, back 30 s after a slot: skip fires the fresh slot, once fires one job.
    const back = new Date("2030-01-01T01:00:45Z");
    deepStrictEqual(await fireDueSchedules(sql, { now: back, graceMs: 60_000 }), {
      fired: 2,
      skipped: 0,
      failed: 0,
    });
    // Down again, back 5 minutes late relative to the grace: skip drops, once still runs one.
    const late = new Date("2030-01-01T03:00:59Z");
    deepStrictEqual(await fireDueSchedules(sql, { now: late, graceMs: 10_000 }), {
      fired: 1,
      skipped: 1,
      failed: 0,
    });
    equal((await firedSlots(sql)).length, 3);
    const all = await listSchedules(sql);
    deepStrictEqual(all.map((s) => s.nextSlot), [
      "2030-01-01T03:01:00.000Z",
      "2030-01-01T03:01:00.000Z",
    ]);
  });
});

Deno.test("createSchedule() validates; pause, resume and delete work", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const code = (c: string) => (e: unknown) => isSluiceError(e) && e.code === c;
    await rejects(
      createSchedule(sql, { name: "x", cron: "nope", kind: "k" }),
      code("VALIDATION_FAILED"),
    );
    await rejects(
      createSchedule(sql, { name: "x", cron: "* * * * *", timezone: "Mars/Olympus", kind: "k" }),
      code("VALIDATION_FAILED"),
    );
    await rejects(
      createSchedule(sql, { name: "x", cron: "* * * * *", queue: "missing", kind: "k" }),
      code("QUEUE_NOT_FOUND"),
    );
    const s = await createSchedule(sql, { name: "x", cron: "* * * * *", kind: "tick" });
    await rejects(
      createSchedule(sql, { name: "x", cron: "* * * * *", kind: "k" }),
      code("CONFLICT"),
    );
    assert(s.nextSlot);
    const paused = await setSchedulePaused(sql, "x", true);
    equal(paused.paused, true);
    equal(
      (await fireDueSchedules(sql, { now: new Date(Date.now() + 3_600_000) })).fired,
      0,
    );
    const resumed = await setSchedulePaused(sql, "x", false);
    assert(new Date(resumed.nextSlot!).getTime() > Date.now() - 1_000);
    await deleteSchedule(sql, "x");
    await rejects(deleteSchedule(sql, "x"), code("SCHEDULE_NOT_FOUND"));
  });
});

const nested = (depth: number): Record<string, unknown> => {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { v };
  return v;
};

Deno.test("fireDueSchedules() isolates a schedule that cannot fire; the others keep firing", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const t0 = new Date("2026-03-01T00:00:00Z");
    await createQueue(sql, "gone");
    for (const [name, queue] of [["a-ok", "default"], ["b-gone", "gone"], ["c-deep", "default"]]) {
      await createSchedule(sql, { name: name!, cron: "* * * * *", queue, kind: "tick" }, {
        now: t0,
      });
    }
    // What validation now refuses but an older build stored: a payload 150 levels deep.
    await sql`UPDATE sluice.schedules SET payload = ${
      JSON.stringify(nested(150))
    }::text::jsonb WHERE name = 'c-deep'`;
    await sql`DELETE FROM sluice.queues WHERE name = 'gone'`;

    const first = await fireDueSchedules(sql, { now: new Date(t0.getTime() + 61_000) });
    deepStrictEqual(first, { fired: 1, skipped: 0, failed: 2 });
    const by = new Map((await listSchedules(sql)).map((s) => [s.name, s]));
    equal(by.get("a-ok")!.lastError, null);
    assert(
      by.get("b-gone")!.lastError!.startsWith("QUEUE_NOT_FOUND: "),
      by.get("b-gone")!.lastError!,
    );
    assert(
      by.get("c-deep")!.lastError!.includes("nested deeper than 100"),
      by.get("c-deep")!.lastError!,
    );
    equal(by.get("c-deep")!.failingSince, "2026-03-01T00:01:01.000Z");
    // Moved past the failed slot, so the next pass is not stuck on it.
    equal(by.get("b-gone")!.nextSlot, "2026-03-01T00:02:00.000Z");

    const alerts = await evaluateAlerts(sql, THRESHOLDS, { now: new Date(t0.getTime() + 62_000) });
    assert(alerts.fired >= 1);
    const firing = (await opsAlerts(sql)).firing.find((a) => a.name === "schedule_failing");
    equal(firing?.value, 2);
    deepStrictEqual(
      (firing!.details.schedules as { name: string }[]).map((s) => s.name),
      ["b-gone", "c-deep"],
    );

    // Still failing a slot later keeps failingSince; a schedule that fires again is cleared.
    await createQueue(sql, "gone");
    const second = await fireDueSchedules(sql, { now: new Date(t0.getTime() + 121_000) });
    deepStrictEqual(second, { fired: 2, skipped: 0, failed: 1 });
    const after = new Map((await listSchedules(sql)).map((s) => [s.name, s]));
    equal(after.get("b-gone")!.lastError, null);
    equal(after.get("b-gone")!.failingSince, null);
    equal(after.get("c-deep")!.failingSince, "2026-03-01T00:01:01.000Z");
    const jobs = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    equal(jobs[0]!.n, 3);
  });
});

Deno.test("createSchedule() validates the payload like a job's", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const make = (name: string, payload: unknown, queue = "default") =>
      createSchedule(sql, { name, cron: "* * * * *", kind: "tick", queue, payload });
    await rejects(make("deep", nested(150)), (e) => {
      assert(isSluiceError(e, "VALIDATION_FAILED"), String(e));
      assert(e.message.includes("nested deeper than 100"), e.message);
      return true;
    });
    await rejects(make("nul", { s: "a\u0000b" }), (e) => isSluiceError(e, "VALIDATION_FAILED"));
    await createQueue(sql, "tiny", { maxPayloadBytes: 20 });
    await rejects(
      make("big", { text: "x".repeat(50) }, "tiny"),
      (e) => isSluiceError(e, "PAYLOAD_TOO_LARGE"),
    );
    equal((await make("fine", nested(100))).name, "fine");
  });
});
