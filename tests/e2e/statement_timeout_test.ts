/**
 * SLUICE_DB_STATEMENT_TIMEOUT against real processes: a request whose statement waits on a lock
 * held by another connection answers 504 DATABASE_TIMEOUT while the lock is still held, is
 * logged and counted per route, and the worker's and maintenance's statements of the same
 * `sluice up` keep waiting on that lock (they have no timeout).
 */
import { equal, ok as assert } from "node:assert/strict";
import { generateToken } from "../../src/auth/tokens.ts";
import { type TestDatabase, withTestDatabase } from "../_helpers/db.ts";
import { startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { parsePrometheus } from "../obs/_prom_parser.ts";

const TIMEOUT = "300ms";

/** Runs `during` while a connection of the test's own pool holds ACCESS EXCLUSIVE on sluice.jobs. */
async function whileJobsLocked(db: TestDatabase, during: () => Promise<void>): Promise<void> {
  const conn = await db.sql.reserve();
  try {
    await conn`BEGIN`;
    await conn`LOCK TABLE sluice.jobs IN ACCESS EXCLUSIVE MODE`;
    await during();
  } finally {
    await conn`ROLLBACK`;
    conn.release();
  }
}

async function enqueue(base: string, token: string): Promise<string> {
  const r = await fetch(`${base}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    // Far in the future: the worker leaves it alone, so the job is there to read.
    body: JSON.stringify({ kind: "sluice.noop", runAt: "2999-01-01T00:00:00Z" }),
  });
  const body = await r.json();
  equal(r.status, 201, JSON.stringify(body));
  return body.job.id;
}

async function getJob(base: string, token: string, id: string) {
  // Bounded, so a request the timeout does not end fails the test instead of hanging it.
  const r = await fetch(`${base}/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, body: await r.json() };
}

/** Called while the lock is held: an answer at all means the statement timeout ended it. */
async function expectDatabaseTimeout(base: string, token: string, id: string): Promise<void> {
  const r = await getJob(base, token, id);
  equal(r.status, 504, JSON.stringify(r.body));
  equal(r.body.error.code, "DATABASE_TIMEOUT");
  assert(r.body.error.message.includes("SLUICE_DB_STATEMENT_TIMEOUT"), r.body.error.message);
}

Deno.test("sluice up: a statement past SLUICE_DB_STATEMENT_TIMEOUT answers 504 DATABASE_TIMEOUT, is logged and counted; worker and maintenance wait on", async () => {
  await withTestDatabase(async (db) => {
    const token = generateToken();
    const up = await startSluice(db, { token, env: { SLUICE_DB_STATEMENT_TIMEOUT: TIMEOUT } });
    try {
      const id = await enqueue(up.base, token);
      await whileJobsLocked(db, async () => {
        await expectDatabaseTimeout(up.base, token, id);
        // The worker's lease and maintenance's passes use the role's own pool: one of them waits
        // on the same lock far past the api's timeout, uncancelled.
        await waitFor(async () => {
          const [{ n }] = await db.sql<[{ n: number }]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'sluice'
              AND wait_event_type = 'Lock' AND now() - query_start > interval '1 second'`;
          return n > 0;
        }, { timeoutMs: 20_000, what: "a worker or maintenance statement waiting over 1 s" });
      });
      // The pool's connection survived the cancel.
      equal((await getJob(up.base, token, id)).status, 200);
      const prom = await fetch(`${up.base}/metrics/prom`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const families = parsePrometheus(await prom.text());
      const samples = families.get("sluice_db_statement_timeouts_total")?.samples ?? [];
      equal(
        samples.find((s) => s.labels.route === "/v1/jobs/:id")?.value,
        1,
        JSON.stringify(samples),
      );
      const lines = up.logs.join("").split("\n").filter((l) => l.startsWith("{"));
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "db_statement_timeout");
      assert(logged, lines.join("\n"));
      equal(logged.route, "/v1/jobs/:id");
      equal(logged.level, "warn");
    } finally {
      await up.stop();
    }
  });
});

Deno.test("sluice api: its whole pool carries SLUICE_DB_STATEMENT_TIMEOUT", async () => {
  await withTestDatabase(async (db) => {
    const token = generateToken();
    const api = await startSluice(db, {
      token,
      role: "api",
      env: { SLUICE_DB_STATEMENT_TIMEOUT: TIMEOUT },
    });
    try {
      const id = await enqueue(api.base, token);
      await whileJobsLocked(db, () => expectDatabaseTimeout(api.base, token, id));
      // The timed-out connection still serves requests.
      equal((await getJob(api.base, token, id)).status, 200);
    } finally {
      await api.stop();
    }
  });
});
