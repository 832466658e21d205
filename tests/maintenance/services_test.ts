import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { acquireLeadership, releaseLeadership } from "../../src/maintenance/leader.ts";
import { archiveSucceededJobs } from "../../src/maintenance/archiver.ts";
import { evaluateAlerts, opsAlerts } from "../../src/maintenance/alerts.ts";
import { runMaintenancePass } from "../../src/maintenance/loop.ts";
import { pruneHistory } from "../../src/maintenance/pruner.ts";
import { maintenanceServices } from "../../src/maintenance/services.ts";
import { requireConfig } from "../../src/config/load.ts";
import { scrubPayloads } from "../../src/maintenance/scrubber.ts";
import { checkTableHealth } from "../../src/maintenance/table_health.ts";
import { createLogger } from "../../src/obs/log.ts";
import { opsQueuesSnapshot } from "../../src/api/triage.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob, jobTimeline } from "../../src/queue/inspect.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJobs, failJob } from "../../src/queue/outcome.ts";
import { promoteDueJobs } from "../../src/queue/promote.ts";
import { replayJob } from "../../src/queue/replay.ts";
import { reapExpiredLeases } from "../../src/queue/rescue.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** `n` jobs run to success now; returns their ids. */
async function succeeded(sql: Sql, n: number, payload: unknown = { secret: "x" }) {
  await enqueueJobs(sql, Array.from({ length: n }, () => ({ kind: "k", payload })));
  const leased = await leaseJobs(sql, { queue: "default", workerId: "w", max: n, leaseMs: 30_000 });
  await completeJobs(sql, leased.map((j) => ({ ...j, result: { ok: true } })));
  return leased.map((j) => j.id);
}

async function dead(sql: Sql, n: number) {
  await enqueueJobs(sql, Array.from({ length: n }, () => ({ kind: "d", maxAttempts: 1 })));
  const leased = await leaseJobs(sql, { queue: "default", workerId: "w", max: n, leaseMs: 30_000 });
  for (const j of leased) {
    await failJob(sql, j, { code: "BOOM", message: "boom", retryable: false, workerId: "w" }, 0);
  }
  return leased.map((j) => j.id);
}

const inDays = (d: number) => new Date(Date.now() + d * DAY);

Deno.test("archiveSucceededJobs() moves old succeeded jobs and getJob/jobTimeline still find them", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const ids = await succeeded(sql, 7);
    const [failedId] = await dead(sql, 1);
    const replay = await replayJob(sql, ids[0]!);
    equal((await archiveSucceededJobs(sql, { olderThanMs: 7 * DAY, now: inDays(6) })).archived, 0);
    const r = await archiveSucceededJobs(sql, {
      olderThanMs: 7 * DAY,
      now: inDays(8),
      batchSize: 3,
    });
    equal(r.archived, 7); // batches of 3, 3, 1: stops on the short one
    const [{ hot }] = await sql<[{ hot: number }]>`SELECT count(*)::int AS hot FROM sluice.jobs`;
    equal(hot, 2); // the dead job and the unfinished replay stay
    const job = await getJob(sql, ids[0]!);
    equal(job.state, "succeeded");
    deepStrictEqual(job.result, { ok: true });
    const { timeline } = await jobTimeline(sql, ids[0]!);
    deepStrictEqual(timeline.map((e) => e.event), ["enqueued", "leased", "succeeded", "replayed"]);
    equal(timeline.at(-1)!.detail.newJobId, replay.id);
    equal((await getJob(sql, failedId!)).state, "dead");
  });
});

Deno.test("pruneHistory() deletes archive, dead and cancelled history past the horizon only", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await succeeded(sql, 3);
    await dead(sql, 2);
    await enqueueJobs(sql, [{ kind: "waiting" }]);
    await archiveSucceededJobs(sql, { olderThanMs: 1_000, now: inDays(1) });
    await sql`INSERT INTO sluice.alert_events (name, subject, event, at)
      VALUES ('success_rate', '', 'firing', now())`;
    await sql`INSERT INTO sluice.policy_decisions (queue, code, detail)
      VALUES ('default', 'QUEUE_FULL', 'test')`;
    await sql`INSERT INTO sluice.callback_events (event_id, job_id, attempt, status)
      VALUES ('evt-1', 1, 1, 'succeeded')`;
    await sql`INSERT INTO sluice.callback_refusals (minute, code, n)
      VALUES (date_trunc('minute', now()), 'SIGNATURE_INVALID', 3)`;
    await sql`INSERT INTO sluice.throttle_windows (queue, key_owner, key, until)
      VALUES ('default', '', 'user:9', now())`;
    await sql`INSERT INTO sluice.key_turns (queue, key, served_at)
      VALUES ('default', 'tenant:7', now())`;
    const none = {
      policy_decisions: 0,
      callback_events: 0,
      callback_refusals: 0,
      throttle_windows: 0,
      key_turns: 0,
    };
    const before = await pruneHistory(sql, { olderThanMs: 30 * DAY, now: inDays(29) });
    deepStrictEqual(before, { archive: 0, finished: 0, alert_events: 0, ...none });
    const after = await pruneHistory(sql, { olderThanMs: 30 * DAY, now: inDays(31), batchSize: 2 });
    deepStrictEqual(after, {
      archive: 3,
      finished: 2,
      alert_events: 1,
      policy_decisions: 1,
      callback_events: 1,
      callback_refusals: 1,
      throttle_windows: 1,
      key_turns: 1,
    });
    const [{ n }] = await sql<[{ n: number }]>`SELECT count(*)::int AS n FROM sluice.jobs`;
    equal(n, 1); // the unfinished job is never pruned
  });
});

Deno.test("scrubPayloads() blanks old finished payloads and keeps the metadata", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const [a, b] = await succeeded(sql, 2, { card: "4111 1111" });
    const [d] = await dead(sql, 1);
    await enqueueJobs(sql, [{ kind: "later", payload: { keep: true } }]);
    await archiveSucceededJobs(sql, { olderThanMs: 1_000, now: inDays(0.5) }); // a and b archived
    const before = await getJob(sql, d!);
    equal((await scrubPayloads(sql, { olderThanMs: DAY, now: inDays(0.9) })).scrubbed, 0);
    equal((await scrubPayloads(sql, { olderThanMs: DAY, now: inDays(2) })).scrubbed, 3);
    equal((await scrubPayloads(sql, { olderThanMs: DAY, now: inDays(2) })).scrubbed, 0);
    const after = await getJob(sql, d!);
    deepStrictEqual(after.payload, { scrubbed: true });
    deepStrictEqual({ ...after, payload: null }, { ...before, payload: null });
    deepStrictEqual((await getJob(sql, a!)).payload, { scrubbed: true });
    deepStrictEqual((await getJob(sql, b!)).result, { ok: true });
    const [{ p }] = await sql<
      [{ p: unknown }]
    >`SELECT payload AS p FROM sluice.jobs WHERE kind = 'later'`;
    deepStrictEqual(p, { keep: true });
  });
});

Deno.test("reapExpiredLeases() and promoteDueJobs() follow an injected clock", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    await enqueueJobs(sql, [{ kind: "a" }, { kind: "b", delayMs: HOUR }]);
    await leaseJobs(sql, { queue: "default", workerId: "w", max: 1, leaseMs: 30_000 });
    equal((await reapExpiredLeases(sql, { now: new Date(Date.now() + 10_000) })).reaped, 0);
    equal((await reapExpiredLeases(sql, { now: new Date(Date.now() + 60_000) })).reaped, 1);
    equal((await promoteDueJobs(sql, { now: new Date(Date.now() + 60_000) })).promoted, 0);
    equal((await promoteDueJobs(sql, { now: new Date(Date.now() + 2 * HOUR) })).promoted, 1);
  });
});

Deno.test("acquireLeadership() admits one holder until its lease expires", async () => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const t0 = new Date();
    const at = (ms: number) => new Date(t0.getTime() + ms);
    const a = await acquireLeadership(sql, "a", 15_000, { now: t0 });
    assert(a.leader);
    equal(a.term, 1);
    const b = await acquireLeadership(sql, "b", 15_000, { now: at(10_000) });
    assert(!b.leader);
    equal(b.holder, "a");
    assert((await acquireLeadership(sql, "a", 15_000, { now: at(12_000) })).leader); // renew
    assert(!(await acquireLeadership(sql, "b", 15_000, { now: at(20_000) })).leader);
    const taken = await acquireLeadership(sql, "b", 15_000, { now: at(28_000) });
    assert(taken.leader);
    equal(taken.term, 2);
    assert(!(await acquireLeadership(sql, "a", 15_000, { now: at(29_000) })).leader);
    await releaseLeadership(sql, "b");
    const back = await acquireLeadership(sql, "a", 15_000);
    assert(back.leader);
    equal(back.term, 3);
  });
});

const THRESHOLDS = {
  staleHeartbeatRatio: 0.25,
  callbackFailureRatio: 0.1,
  retrySuccessRate: 0.7,
  successRate: 0.9,
  depthGrowthMs: 15 * 60_000,
  dlqGrowth: 1,
  xminHorizonMs: 600_000,
  deadTupleRatio: 0.2,
};

Deno.test("evaluateAlerts() fires and resolves, with state, events, log lines and ops views", async (t) => {
  await withTestDatabase(async (db) => {
    const { sql } = db;
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ write: (l) => lines.push(JSON.parse(l)) });
    // Ahead of the wall clock, so jobs finished during the test are inside the windows.
    const t0 = Date.now() + 10_000;
    const at = (min: number) => new Date(t0 + min * 60_000);
    const firing = async () => (await opsAlerts(sql)).firing.map((a) => `${a.name}:${a.subject}`);
    await t.step(
      "success rate must hold 30 minutes (counted from sluice.alerts), DLQ growth fires at once",
      async () => {
        await succeeded(sql, 8);
        await dead(sql, 2);
        const p = await evaluateAlerts(sql, THRESHOLDS, { now: at(0), log });
        equal(p.fired, 1);
        deepStrictEqual(await firing(), ["dlq_growth:default"]);
        deepStrictEqual((await opsAlerts(sql)).pending.map((a) => a.name), ["success_rate"]);
        // Keep the finished jobs inside both windows while the clock moves on.
        await sql`UPDATE sluice.jobs SET finished_at = ${at(25)} WHERE state <> 'available'`;
        equal((await evaluateAlerts(sql, THRESHOLDS, { now: at(29), log })).fired, 0);
        deepStrictEqual(await firing(), ["dlq_growth:default"]);
        // A fresh evaluation (another leader) reads pending_since from the table.
        equal((await evaluateAlerts(sql, THRESHOLDS, { now: at(30), log })).fired, 1);
        deepStrictEqual((await firing()).sort(), ["dlq_growth:default", "success_rate:"]);
        assert(lines.some((l) => l.msg === "alert_firing" && l.alert === "success_rate"));
        await sql`UPDATE sluice.jobs SET finished_at = now() WHERE state <> 'available'`;
        const later = await evaluateAlerts(sql, THRESHOLDS, { now: at(31), log });
        equal(later.resolved, 2);
        deepStrictEqual(await firing(), []);
        assert(lines.some((l) => l.msg === "alert_resolved" && l.alert === "dlq_growth"));
        const recent = (await opsAlerts(sql)).recent.map((e) => `${e.event}:${e.name}`);
        assert(recent.includes("resolved:success_rate") && recent.includes("firing:dlq_growth"));
      },
    );

    await t.step("stale heartbeats must hold for 5 minutes before firing", async () => {
      await enqueueJobs(sql, [{ kind: "hang" }]);
      await leaseJobs(sql, { queue: "default", workerId: "gone", max: 1, leaseMs: 1_000 });
      await evaluateAlerts(sql, THRESHOLDS, { now: at(40), log });
      deepStrictEqual((await opsAlerts(sql)).pending.map((a) => a.name), ["stale_heartbeat_ratio"]);
      await evaluateAlerts(sql, THRESHOLDS, { now: at(44), log });
      deepStrictEqual(await firing(), []);
      await evaluateAlerts(sql, THRESHOLDS, { now: at(45), log });
      deepStrictEqual(await firing(), ["stale_heartbeat_ratio:"]);
      await sql`UPDATE sluice.jobs SET state = 'available', lease_expires_at = NULL WHERE kind = 'hang'`;
      await evaluateAlerts(sql, THRESHOLDS, { now: at(46), log });
      deepStrictEqual(await firing(), []);
    });

    await t.step("a queue whose depth keeps growing for 15 minutes fires", async () => {
      await sql`DELETE FROM sluice.jobs WHERE kind = 'hang'`;
      await evaluateAlerts(sql, THRESHOLDS, { now: at(49), log }); // depth 0: the baseline
      for (let m = 50; m <= 64; m++) {
        await enqueueJobs(sql, [{ kind: "pile" }]);
        await evaluateAlerts(sql, THRESHOLDS, { now: at(m), log });
        if (m === 63) deepStrictEqual(await firing(), []);
      }
      deepStrictEqual(await firing(), ["queue_depth_growing:default"]);
      const fired = lines.findLast((l) => l.msg === "alert_firing")!;
      equal(fired.alert, "queue_depth_growing");
      // Value and threshold in one unit (seconds of growth against the window), not a depth.
      equal(fired.value, 900);
      equal(fired.threshold, 900);
      equal(fired.depth, 15);
      equal(fired.startDepth, 0);
      await sql`DELETE FROM sluice.jobs WHERE kind = 'pile' AND id % 2 = 0`;
      await evaluateAlerts(sql, THRESHOLDS, { now: at(65), log });
      deepStrictEqual(await firing(), [], JSON.stringify(await opsAlerts(sql)));
    });

    await t.step("a flat backlog is not growing, however long it stays", async () => {
      await evaluateAlerts(sql, THRESHOLDS, { now: at(70), log });
      for (let m = 71; m <= 100; m++) {
        await evaluateAlerts(sql, THRESHOLDS, { now: at(m), log });
        // A pass between samples (the loop runs every few seconds) changes nothing either.
        await evaluateAlerts(sql, THRESHOLDS, { now: at(m + 0.5), log });
      }
      deepStrictEqual(await firing(), []);
      deepStrictEqual((await opsAlerts(sql)).pending, []);
      await sql`DELETE FROM sluice.jobs WHERE kind = 'pile'`;
    });

    await t.step("opsQueuesSnapshot() reports state, counts and reasons", async () => {
      const snap = await opsQueuesSnapshot(sql, { signingSecrets: 2 });
      equal(snap.status, "offline");
      assert(snap.reasons[0] === "no worker is online", snap.reasons.join("; "));
      assert(snap.reasons.some((r) => r.startsWith("no live maintenance leader")));
      const q = snap.queues.find((x) => x.name === "default")!;
      equal(q.counts.dead, 2);
      equal(q.throughput["1m"], 8);
      deepStrictEqual(snap.signing, { configured: true, count: 2 });
      equal(snap.maintenance.leader, null);
    });
  });
});

Deno.test("checkTableHealth() warns about a transaction pinning the xmin horizon", async () => {
  await withTestDatabase(async (db) => {
    const held = await db.sql.reserve();
    try {
      await held`BEGIN ISOLATION LEVEL REPEATABLE READ`;
      await held`SELECT count(*) FROM sluice.jobs`;
      const [{ pid }] = await held<[{ pid: number }]>`SELECT pg_backend_pid() AS pid`;
      // Until the transaction is older than the 10 ms threshold (by the database's clock).
      await waitFor(async () => {
        const [r] = await db.sql<{ old: boolean }[]>`
          SELECT now() - xact_start > interval '10 milliseconds' AS old
          FROM pg_stat_activity WHERE pid = ${pid}`;
        return r?.old;
      }, { what: "the held transaction to pass the xmin threshold" });
      const h = await checkTableHealth(db.sql, { xminHorizonMs: 10, deadTupleRatio: 0.2 });
      equal(h.warnings.length, 1, JSON.stringify(h));
      assert(h.warnings[0]!.includes("held back vacuum"), h.warnings[0]);
      const p = await evaluateAlerts(db.sql, { ...THRESHOLDS, xminHorizonMs: 10 });
      assert(p.fired >= 1);
      assert((await opsAlerts(db.sql)).firing.some((a) => a.name === "table_health"));
      await held`COMMIT`;
    } finally {
      held.release();
    }
    const ok = await checkTableHealth(db.sql, { xminHorizonMs: 10, deadTupleRatio: 0.2 });
    deepStrictEqual(ok.warnings, []);
  });
});

Deno.test("runMaintenancePass() logs the alerts pass at info only when an alert fires or resolves", async () => {
  await withTestDatabase(async (db) => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
    const { config } = requireConfig({ DATABASE_URL: db.url });
    const services = maintenanceServices(config).filter((s) => s.name === "alerts");
    const passLevels = () =>
      lines.splice(0).filter((l) => l.msg === "maintenance_pass").map((l) => l.level);
    const pass = () => runMaintenancePass(db.sql, services, { log, holder: "t" });
    await pass();
    await pass();
    deepStrictEqual(passLevels(), ["debug", "debug"], "nothing changed: debug");
    await dead(db.sql, 1);
    await pass();
    deepStrictEqual(passLevels(), ["info"], "dlq_growth fired");
    await pass();
    deepStrictEqual(passLevels(), ["debug"], "still firing, nothing changed");
  });
});
