import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { isSluiceError } from "../../src/errors.ts";
import type { LeasedJob } from "../../src/queue/job.ts";
import type { Queue } from "../../src/queue/queues.ts";
import {
  type Attempt,
  Attempts,
  type AttemptState,
  type AttemptTag,
  canMove,
  holdsSlot,
  keepsLease,
  move,
  type Run,
} from "../../src/worker/attempt.ts";

const run: Run = {
  controller: new AbortController(),
  startedAt: 0,
  timeoutAt: 1_000,
  timeoutMs: 1_000,
  leaseDeadline: 30_000,
  shortLease: false,
};

const STATES: Record<AttemptTag, AttemptState> = {
  held: { tag: "held", leasedAt: 0, leaseMs: 4_500, startBy: 1_000 },
  running: { tag: "running", run },
  deciding: { tag: "deciding", run, outcome: "succeeded" },
  writing: { tag: "writing", run, outcome: "succeeded" },
  done: { tag: "done", run, outcome: "succeeded" },
  released: { tag: "released", reason: "shutdown" },
  lost: { tag: "lost" },
};

/** The life an attempt may have (issue #20), written out apart from the module's table. */
const LEGAL = new Set([
  "held→running",
  "held→released",
  "running→deciding",
  "running→released",
  "running→lost",
  "deciding→writing",
  "writing→done",
  "writing→lost",
  "writing→deciding",
]);

const attempt = (state: AttemptState, id = "1"): Attempt => ({
  job: { id, attempt: 1, leaseToken: "t", queue: "q", kind: "k" } as LeasedJob,
  queue: {} as Queue,
  state,
});

const tags = Object.keys(STATES) as AttemptTag[];

Deno.test("every legal move goes through and every other move throws INTERNAL naming both states", () => {
  for (const from of tags) {
    for (const to of tags) {
      const a = attempt(STATES[from]);
      const name = `${from}→${to}`;
      equal(canMove(from, to), LEGAL.has(name), name);
      if (LEGAL.has(name)) {
        move(a, STATES[to]);
        equal(a.state.tag, to, name);
      } else {
        throws(() => move(a, STATES[to]), (e: unknown) => {
          ok(isSluiceError(e, "INTERNAL"), name);
          deepStrictEqual(e.details, { job_id: "1", from, to });
          return true;
        });
        equal(a.state.tag, from, `${name}: an illegal move leaves the state as it was`);
      }
    }
  }
});

Deno.test("a success waiting to be written frees its slot but keeps its lease; a failure being written holds both", () => {
  const waiting: AttemptState = { tag: "deciding", run, outcome: "succeeded" };
  const failing: AttemptState = { tag: "writing", run, outcome: "failed" };
  deepStrictEqual([holdsSlot(waiting), keepsLease(waiting)], [false, true]);
  deepStrictEqual([holdsSlot(failing), keepsLease(failing)], [true, false]);
  deepStrictEqual([holdsSlot(STATES.running), keepsLease(STATES.running)], [true, true]);
  for (const t of ["held", "done", "released", "lost"] as const) {
    deepStrictEqual([holdsSlot(STATES[t]), keepsLease(STATES[t])], [false, false], t);
  }
});

Deno.test("Attempts counts busy slots as attempts move, and a stale entry cannot remove a newer attempt", () => {
  const set = new Attempts();
  const a = attempt(STATES.running, "1");
  const b = attempt(STATES.running, "2");
  set.add(a);
  set.add(b);
  equal(set.busy, 2);
  set.move(a, { tag: "deciding", run, outcome: "succeeded" });
  equal(set.busy, 1, "a buffered success frees its slot");
  set.move(a, { tag: "writing", run, outcome: "succeeded" });
  set.move(a, { tag: "done", run, outcome: "succeeded" });
  set.delete(a);
  equal(set.busy, 1);
  equal(set.size, 1);
  // Job 2 leased again by this worker (its old attempt lost, then re-leased): the old one's
  // late clean-up must not drop the new one.
  set.move(b, { tag: "lost" });
  const again = attempt(STATES.running, "2");
  set.add(again);
  set.delete(b);
  equal(set.get("2"), again);
  equal(set.busy, 1, "the lost attempt's slot was freed when it moved, and only once");
});
