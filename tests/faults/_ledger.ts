/**
 * The fault suite's ledger: the test records every job Sluice accepted, every request it
 * rejected, every execution a handler saw and every job a fault touched; `check()` then proves
 * the invariants of DESIGN.md "Guarantees" after the scenario:
 *
 *   I1 no loss          every accepted job ends succeeded or dead
 *   I2 no phantom       no row exists that was not accepted (a rejected request left no row;
 *                       an enqueue whose answer was lost in a fault may or may not exist)
 *   I3 single success   no attempt ran twice; every earlier attempt that ran has its error in
 *                       the job's history (no silent re-run); a job neither a fault nor its
 *                       history touched ran exactly once; a success's attempt really ran
 *   I4 nothing stuck    no job stays running past its lease plus the reaper interval (sampled
 *                       during the scenario by `watch()`, and once more at the end)
 *
 * Executions come from two side channels: in-process handlers call `started()`/`ended()`; exec handlers
 * (real `sluice worker` processes) append `start <id> <attempt>` / `end <id> <attempt>` lines to
 * the file of `execCommand()` (O_APPEND writes of one short line do not interleave).
 */
import { deepStrictEqual, ok as assert } from "node:assert/strict";
import type { Sql } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

export interface Execution {
  id: string;
  attempt: number;
  ended: boolean;
}

export interface LedgerSummary {
  accepted: number;
  succeeded: number;
  dead: number;
  executions: number;
  faulted: number;
  stuckSamples: number;
}

export class Ledger {
  readonly #sql: Sql;
  readonly #accepted = new Set<string>();
  readonly #faulted = new Set<string>();
  readonly #released = new Set<string>();
  #crashed = false;
  /** Tags of enqueues whose answer was lost: their row may exist or not. */
  readonly #uncertain = new Set<string>();
  /** Tags of enqueues that were refused: no row may carry them. */
  readonly #rejected = new Set<string>();
  readonly #executions: Execution[] = [];
  readonly execFile: string | null;
  #stuck: { id: string; overdueMs: number; at: number }[] = [];
  /** Windows (ms since epoch) in which the reaper cannot run by design (database down). */
  #exempt: [number, number][] = [];
  #samples = 0;
  #watch: ReturnType<typeof setInterval> | null = null;

  constructor(sql: Sql, { execFile = null }: { execFile?: string | null } = {}) {
    this.#sql = sql;
    this.execFile = execFile;
  }

  accept(ids: Iterable<string>): void {
    for (const id of ids) this.#accepted.add(id);
  }

  get accepted(): string[] {
    return [...this.#accepted];
  }

  /** Jobs a fault touched: they may run more than once (each attempt at most once). */
  faulted(ids: Iterable<string>): void {
    for (const id of ids) this.#faulted.add(id);
  }

  /**
   * Jobs given back by a graceful shutdown: a released attempt is not counted, so the same
   * attempt number runs again by design.
   */
  /**
   * PostgreSQL crashed during the scenario (`pg_ctl restart -m immediate`). Leases commit
   * asynchronously (src/queue/lease.ts), so a crash can lose one: the job is available again with
   * the same attempt number and runs that attempt a second time. That is the at-least-once the
   * issue allows where a fault was injected; fencing (tokens never repeat) still lets only one
   * run's outcome count, which the other checks verify.
   */
  crashed(): void {
    this.#crashed = true;
  }

  released(ids: Iterable<string>): void {
    for (const id of ids) {
      this.#faulted.add(id);
      this.#released.add(id);
    }
  }

  uncertain(tag: string): void {
    this.#uncertain.add(tag);
  }

  rejected(tag: string): void {
    this.#rejected.add(tag);
  }

  /** In-process handlers report the start of each execution here… */
  started(id: string, attempt: number): void {
    this.#executions.push({ id, attempt, ended: false });
  }

  /** …and its successful end. */
  ended(id: string, attempt: number): void {
    const e = this.#executions.findLast((x) => x.id === id && x.attempt === attempt);
    if (e) e.ended = true;
    else this.#executions.push({ id, attempt, ended: true });
  }

  /**
   * The shell command of an exec queue that records its executions in `execFile`. The job's
   * kind picks the behaviour: `sleep:<seconds>` sleeps, `crash` kills its own shell with
   * SIGKILL (a handler that dies every time), `fail` exits 1, anything else succeeds at once.
   */
  execCommand(): string[] {
    if (!this.execFile) throw new Error("this ledger has no execFile");
    const f = this.execFile;
    return [
      "/bin/sh",
      "-c",
      `echo "start $SLUICE_JOB_ID $SLUICE_ATTEMPT" >> '${f}'
case "$SLUICE_KIND" in
  sleep:*) sleep "\${SLUICE_KIND#sleep:}" ;;
  crash) kill -9 $$ ;;
  fail) exit 1 ;;
esac
echo "end $SLUICE_JOB_ID $SLUICE_ATTEMPT" >> '${f}'`,
    ];
  }

  async executions(): Promise<Execution[]> {
    const out = [...this.#executions];
    if (this.execFile) {
      const text = await Deno.readTextFile(this.execFile).catch(() => "");
      const ended = new Set<string>();
      const lines = text.split("\n").filter(Boolean).map((l) => l.split(" "));
      for (const [what, id, attempt] of lines) if (what === "end") ended.add(`${id}/${attempt}`);
      for (const [what, id, attempt] of lines) {
        if (what === "start") {
          out.push({ id: id!, attempt: Number(attempt), ended: ended.has(`${id}/${attempt}`) });
        }
      }
    }
    return out;
  }

  /** Samples I4 every `everyMs` until `check()` (or `stopWatch()`). */
  watch({ reaperMs, everyMs = 250 }: {
    leaseMs: number;
    reaperMs: number;
    everyMs?: number;
  }): void {
    const slack = reaperMs + 1_000;
    this.#watch = setInterval(async () => {
      try {
        const rows = await this.#sql<{ id: string; overdue_ms: number }[]>`
          SELECT id::text, (extract(epoch FROM now() - lease_expires_at) * 1000)::int AS overdue_ms
          FROM sluice.jobs
          WHERE state = 'running' AND lease_expires_at < now() - ${slack} * interval '1 millisecond'`;
        this.#samples++;
        const at = Date.now();
        for (const r of rows) this.#stuck.push({ id: r.id, overdueMs: r.overdue_ms, at });
      } catch { /* the database may be down on purpose: the next sample counts */ }
    }, everyMs);
  }

  /**
   * The reaper cannot run from `from` until `to` (PostgreSQL down, roles reconnecting): I4
   * samples taken then, or within one lease after, do not count.
   */
  exempt(from: number, to: number): void {
    this.#exempt.push([from, to]);
  }

  stopWatch(): void {
    if (this.#watch !== null) clearInterval(this.#watch);
    this.#watch = null;
  }

  /** Waits until every accepted job is finished (succeeded, dead or cancelled). */
  /**
   * Proves the reaper runs (again): plants a `running` job on `queue` whose lease has already
   * expired, counted as faulted, and waits until something took it out of `running`.
   */
  async reaperRuns(queue: string, { timeoutMs, what }: { timeoutMs: number; what: string }) {
    const sql = this.#sql;
    const [ghost] = await sql<{ id: string }[]>`
      INSERT INTO sluice.jobs (queue, kind, payload, state, attempt, max_attempts, lease_token,
        worker_id, leased_at, lease_expires_at, started_at, tags)
      VALUES (${queue}, 'sleep:0', '{}', 'running', 1, 3, 1, 'ghost', now(), now(), now(), '{ghost}')
      RETURNING id::text`;
    this.accept([ghost!.id]);
    this.faulted([ghost!.id]);
    await waitFor(async () => {
      const [r] = await sql<{ state: string }[]>`
        SELECT state FROM sluice.jobs WHERE id = ${ghost!.id}`;
      return r!.state !== "running";
    }, { timeoutMs, what });
  }

  async settle(timeoutMs = 30_000): Promise<void> {
    const ids = this.accepted;
    try {
      await waitFor(async () => {
        const [row] = await this.#sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM sluice.jobs
          WHERE id = ANY(${ids}::bigint[]) AND state IN ('succeeded', 'dead', 'cancelled')`;
        return row!.n === ids.length;
      }, { timeoutMs, intervalMs: 100, what: `${ids.length} accepted jobs to finish` });
    } catch (e) {
      const rows = await this.#sql`
        SELECT id, state, attempt, worker_id, lease_expires_at, run_at, errors
        FROM sluice.jobs
        WHERE id = ANY(${ids}::bigint[]) AND state NOT IN ('succeeded', 'dead', 'cancelled')
        ORDER BY id LIMIT 10`;
      throw new Error(`${(e as Error).message}; unfinished: ${JSON.stringify(rows)}`);
    }
  }

  /** Asserts I1–I4; throws with the offending ids. */
  async check(
    { leaseMs, reaperMs }: { leaseMs: number; reaperMs: number },
  ): Promise<LedgerSummary> {
    this.stopWatch();
    const sql = this.#sql;
    const rows = await sql<
      { id: string; state: string; attempt: number; tags: string[]; errors: unknown[] }[]
    >`SELECT id::text, state, attempt, tags, errors FROM sluice.jobs`;
    const byId = new Map(rows.map((r) => [r.id, r]));

    // I1 no loss
    const lost = this.accepted.filter((id) => {
      const s = byId.get(id)?.state;
      return s !== "succeeded" && s !== "dead";
    });
    deepStrictEqual(
      lost.map((id) => `${id}:${byId.get(id)?.state ?? "missing"}`),
      [],
      "I1 no loss",
    );

    // I2 no phantom
    const phantoms = rows.filter((r) =>
      !this.#accepted.has(r.id) && !r.tags.some((t) => this.#uncertain.has(t))
    );
    deepStrictEqual(phantoms.map((r) => r.id), [], "I2 no phantom row");
    const leaked = rows.filter((r) => r.tags.some((t) => this.#rejected.has(t)));
    deepStrictEqual(leaked.map((r) => r.id), [], "I2 a rejected enqueue left a row");

    // I3 single completion
    const executions = await this.executions();
    const perAttempt = new Map<string, number>();
    const perJob = new Map<string, number>();
    for (const e of executions) {
      const key = `${e.id}/${e.attempt}`;
      perAttempt.set(key, (perAttempt.get(key) ?? 0) + 1);
      perJob.set(e.id, (perJob.get(e.id) ?? 0) + 1);
    }
    const twice = [...perAttempt].filter(([k, n]) =>
      n > 1 && !this.#crashed && !this.#released.has(k.split("/")[0]!)
    )
      .map(([k]) => k);
    deepStrictEqual(twice, [], "I3 an attempt ran twice");
    // A re-run must be explained: every executed attempt other than the job's current one has
    // its error recorded (failed, timed out, or LEASE_EXPIRED after a lost lease). A job no
    // fault touched runs exactly once unless its own history explains more.
    const unexplained: unknown[] = [];
    for (const e of executions) {
      const r = byId.get(e.id);
      if (!r || this.#released.has(e.id)) continue;
      const errs = r.errors as { attempt: number }[];
      if (e.attempt > r.attempt) unexplained.push({ ...e, note: "attempt beyond the job's" });
      else if (e.attempt < r.attempt && !errs.some((x) => x.attempt === e.attempt)) {
        unexplained.push({ ...e, note: "earlier attempt without a recorded error", errors: errs });
      }
    }
    deepStrictEqual(unexplained, [], "I3 an execution nothing in the job's history explains");
    const extra = [...perJob].filter(([id, n]) =>
      n > 1 && !this.#faulted.has(id) && !this.#crashed &&
      n > 1 + ((byId.get(id)?.errors as unknown[] | undefined)?.length ?? 0)
    ).map(([id, n]) => ({ id, executions: n, errors: byId.get(id)?.errors }));
    deepStrictEqual(extra, [], "I3 a job ran more often than its history explains");
    const hasChannel = this.execFile !== null || this.#executions.length > 0;
    if (hasChannel) {
      const unrun = rows.filter((r) =>
        r.state === "succeeded" && this.#accepted.has(r.id) &&
        !executions.some((e) => e.id === r.id && e.attempt === r.attempt && e.ended)
      );
      deepStrictEqual(unrun.map((r) => r.id), [], "I3 success without a finished execution");
    }

    // I4 nothing stuck
    const slack = reaperMs + 1_000;
    const [stuckNow] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM sluice.jobs
      WHERE state = 'running' AND lease_expires_at < now() - ${slack} * interval '1 millisecond'`;
    assert(stuckNow!.n === 0, `I4 ${stuckNow!.n} jobs running past lease + reaper interval`);
    const stuck = this.#stuck.filter((x) =>
      !this.#exempt.some(([from, to]) => x.at >= from && x.at <= to + leaseMs + slack)
    );
    deepStrictEqual(stuck, [], `I4 stuck while the scenario ran (lease ${leaseMs} ms)`);

    return {
      accepted: this.#accepted.size,
      succeeded: rows.filter((r) => r.state === "succeeded").length,
      dead: rows.filter((r) => r.state === "dead").length,
      executions: executions.length,
      faulted: this.#faulted.size,
      stuckSamples: this.#samples,
    };
  }
}
