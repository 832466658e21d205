/**
 * The per-key limit under real concurrency: two `sluice worker` processes with 25 slots each
 * (50 concurrent workers) lease one keyed queue; afterwards every job's timeline is replayed
 * and no key ever had more than keyConcurrency leases open at once.
 *
 * Why the timeline is exact here: a keyed lease stamps its jobs with clock_timestamp() taken
 * after its snapshot (src/queue/lease.ts), and an outcome's time is its transaction start,
 * before its commit; so a job that made room for a lease always ends before that lease starts.
 */
import { ok as assert } from "node:assert/strict";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { jobTimeline } from "../../src/queue/inspect.ts";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";
import { type SluiceProcess, spawnSluice, started, stopAll } from "../faults/_procs.ts";

const LIMIT = 3;
const KEYS = 10;
const PER_KEY = 30;

Deno.test("keyConcurrency holds across two worker processes with 50 slots: never more than N running per key", async () => {
  await withTestDatabase(async (db) => {
    const procs: SluiceProcess[] = [];
    try {
      await createQueue(db.sql, "tenants", {
        keyConcurrency: LIMIT,
        delivery: { mode: "exec", command: ["sh", "-c", "cat >/dev/null; sleep 0.02"] },
      });
      for (const name of ["w1", "w2"]) {
        procs.push(
          spawnSluice(name, "worker", db.url, { SLUICE_QUEUES: "tenants", SLUICE_LEASE: "30s" }, [
            "--concurrency",
            "25",
          ]),
        );
      }
      await Promise.all(procs.map((p) => started(p)));
      const inputs = Array.from({ length: KEYS * PER_KEY }, (_, i) => ({
        queue: "tenants",
        kind: "k",
        concurrencyKey: `tenant:${i % KEYS}`,
      }));
      const jobs = await enqueueJobs(db.sql, inputs);
      await waitFor(async () => {
        const [r] = await db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM sluice.jobs WHERE queue = 'tenants' AND state = 'succeeded'`;
        return r!.n === jobs.length;
      }, { timeoutMs: 120_000, intervalMs: 200, what: "every job to succeed" });

      // Every open lease of each key as [start, end), from the timelines.
      const points = new Map<string, { at: string; delta: number }[]>();
      const workers = new Set<string>();
      for (const { job } of jobs) {
        const { timeline } = await jobTimeline(db.sql, job.id);
        let open: string | null = null;
        for (const e of timeline) {
          if (e.event === "leased") {
            open = e.at;
            if (e.workerId) workers.add(e.workerId);
          } else if (open !== null && e.event !== "enqueued" && e.event !== "scheduled") {
            const list = points.get(job.concurrencyKey!) ?? [];
            list.push({ at: open, delta: 1 }, { at: e.at, delta: -1 });
            points.set(job.concurrencyKey!, list);
            open = null;
          }
        }
        assert(open === null, `job ${job.id} has a lease without an end`);
      }
      let peak = 0;
      for (const [key, list] of points) {
        // Ends before starts at the same instant: [start, end) intervals that touch do not overlap.
        list.sort((a, b) => a.at.localeCompare(b.at) || a.delta - b.delta);
        let now = 0, max = 0;
        for (const p of list) max = Math.max(max, now += p.delta);
        assert(max <= LIMIT, `${key} had ${max} jobs running at once (limit ${LIMIT})`);
        peak = Math.max(peak, max);
      }
      // The limit was reached, and both processes leased: the run did exercise the race.
      assert(peak === LIMIT, `no key reached its limit (peak ${peak})`);
      assert(workers.size === 2, `only ${[...workers].join(", ")} leased`);
      console.log(`peak ${peak} running per key (limit ${LIMIT}), workers ${[...workers]}`);
    } finally {
      await stopAll(procs);
    }
  });
});
