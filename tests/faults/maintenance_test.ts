/**
 * Fault: two `sluice maintenance` processes on one database. One leads at a time (the leader
 * election itself, takeover and its term: tests/maintenance/leader_e2e_test.ts); here an
 * every-second cron schedule runs across 100+ scheduler ticks and a kill -9 of the leader, and
 * every slot must produce at most one job (exactly one outside the takeover gap, where missed
 * slots collapse into one), with passes only ever by the current leader.
 */
import { equal, ok as assert } from "node:assert/strict";
import { getLeader } from "../../src/maintenance/leader.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { createSchedule } from "../../src/queue/schedules.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { FULL, SluiceProcess, stopAll } from "./_procs.ts";

const TTL_MS = 1_000;
const INTERVAL_MS = 100;

Deno.test("two maintenance processes: one leader, takeover after kill -9, each cron slot fires once over 100+ ticks", async () => {
  await withTestDatabase(async (db) => {
    const sql = db.sql;
    const env = {
      DATABASE_URL: db.url,
      SLUICE_MAINTENANCE_INTERVAL: `${INTERVAL_MS}ms`,
      SLUICE_MAINTENANCE_LEADER_TTL: `${TTL_MS}ms`,
    };
    const procs = [
      new SluiceProcess("ma", ["maintenance"], env),
      new SluiceProcess("mb", ["maintenance"], env),
    ];
    const ticks = () =>
      procs.reduce(
        (n, p) =>
          n +
          p.lines.filter((l) => l.msg === "maintenance_pass" && l.service === "scheduler").length,
        0,
      );
    try {
      await createQueue(sql, "cron", {});
      await createSchedule(sql, {
        name: "every",
        cron: "* * * * * *",
        queue: "cron",
        kind: "tick",
      });
      const first = await waitFor(async () => {
        const l = await getLeader(sql);
        return l?.live ? l : null;
      }, { timeoutMs: 30_000, what: "a maintenance leader" });
      const leader = procs.find((p) => first.holder.startsWith(`${p.name}/`))!;
      const standby = procs.find((p) => p !== leader)!;
      await standby.waitLog("maintenance_started", { timeoutMs: 30_000 });
      const phase = FULL ? 100 : 50;
      await waitFor(() => ticks() >= phase, {
        timeoutMs: 60_000,
        intervalMs: 50,
        what: `${phase} scheduler ticks`,
      });
      assert(!standby.lines.some((l) => l.msg === "maintenance_pass"), "the standby ran a pass");

      leader.signal("SIGKILL");
      await leader.status;
      const killedAt = Date.now();
      const ticksBefore = ticks();
      const next = await waitFor(async () => {
        const l = await getLeader(sql);
        return l?.live && l.holder !== first.holder ? l : null;
      }, { timeoutMs: 30_000, what: "takeover by the standby" });
      const tookMs = Date.now() - killedAt;
      equal(next.term, first.term + 1);
      await waitFor(() => ticks() >= ticksBefore + phase, {
        timeoutMs: 60_000,
        intervalMs: 50,
        what: `${phase} more scheduler ticks`,
      });
      const totalTicks = ticks();
      assert(totalTicks >= 100, `${totalTicks} ticks`);
      await stopAll(procs);

      // Every job of the schedule names its slot in the idempotency key.
      const rows = await sql<{ k: string; n: number }[]>`
        SELECT idempotency_key AS k, count(*)::int AS n FROM sluice.jobs
        WHERE kind = 'tick' GROUP BY 1 ORDER BY 1`;
      const dupes = rows.filter((r) => r.n > 1);
      equal(dupes.length, 0, `slots fired twice: ${JSON.stringify(dupes)}`);
      const slots = rows.map((r) => Date.parse(r.k.split(":").slice(2).join(":")));
      assert(slots.length >= 5, `${slots.length} slots`);
      // Consecutive slots are one second apart, except one gap around the takeover (slots missed
      // while nobody led collapse into the next one), at most the TTL plus a few seconds.
      const gaps = slots.slice(1).map((s, i) => s - slots[i]!);
      const long = gaps.filter((g) => g !== 1_000);
      assert(
        long.length <= 1 && long.every((g) => g <= TTL_MS + 10_000),
        `gaps ${JSON.stringify(long)}`,
      );
      console.log(
        `maintenance: ${totalTicks} scheduler ticks, ${slots.length} slots each fired once, ` +
          `takeover ${tookMs} ms after kill -9 (term ${first.term} -> ${next.term}), ` +
          `gaps ${JSON.stringify(long)}`,
      );
    } catch (e) {
      for (const p of procs) console.error(`--- ${p.name}\n${p.dump()}`);
      throw e;
    } finally {
      await stopAll(procs);
    }
  });
});
