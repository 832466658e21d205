import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { listDeadLetterGroups, replayDeadLetters } from "../../src/queue/dlq.ts";
import { enqueueJobs } from "../../src/queue/enqueue.ts";
import { getJob } from "../../src/queue/inspect.ts";
import { type Sql, testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";
import { runSluice } from "../_helpers/sluice_cli.ts";

const sluice = runSluice;

/** Dead jobs straight in the table: `n` per (queue, reason). */
async function bury(sql: Sql, queue: string, reason: string, n: number): Promise<string[]> {
  const jobs = await enqueueJobs(sql, Array.from({ length: n }, () => ({ queue, kind: "k" })));
  const ids = jobs.map((j) => j.job.id);
  await sql`
    UPDATE sluice.jobs SET state = 'dead', dead_reason = ${reason}, finished_at = now(), attempt = 1
    WHERE id = ANY(${ids}::bigint[])`;
  return ids;
}

Deno.test("replayDeadLetters() replays by filter in capped calls that continue, and by ids", async () => {
  await withTestDatabase(async (db) => {
    await db.sql`INSERT INTO sluice.queues (name) VALUES ('mail')`;
    await bury(db.sql, "default", "DEAD_MAX_ATTEMPTS", 5);
    const perm = await bury(db.sql, "mail", "DEAD_PERMANENT_ERROR", 2);
    const groups = await listDeadLetterGroups(db.sql);
    deepStrictEqual(groups.map((g) => [g.queue, g.reason, g.count, g.unreplayed]), [
      ["default", "DEAD_MAX_ATTEMPTS", 5, 5],
      ["mail", "DEAD_PERMANENT_ERROR", 2, 2],
    ]);
    const first = await replayDeadLetters(db.sql, { queue: "default", limit: 3 });
    equal(first.replayed.length, 3);
    equal(first.remaining, 2);
    const second = await replayDeadLetters(db.sql, { queue: "default", limit: 3 });
    equal(second.replayed.length, 2);
    equal(second.remaining, 0);
    const ids = new Set([...first.replayed, ...second.replayed].map((r) => r.id));
    equal(ids.size, 5, "no job replayed twice");
    const fresh = await getJob(db.sql, first.replayed[0]!.newId);
    equal(fresh.state, "available");
    equal(fresh.retryOf, first.replayed[0]!.id);
    const byId = await replayDeadLetters(db.sql, { ids: [perm[0]!, "999999"] });
    equal(byId.replayed.length, 1);
    deepStrictEqual(byId.skipped, ["999999"]);
    equal((await getJob(db.sql, perm[0]!)).state, "dead", "the original stays as it was");
  });
});

Deno.test("sluice dlq list/replay and queue create --http work from a shell", async () => {
  await withTestDatabase(async (db) => {
    const env = testDatabaseEnv(db);
    const dead = await bury(db.sql, "default", "DEAD_MAX_ATTEMPTS", 3);
    const list = await sluice(["dlq", "list"], env);
    equal(list.code, 0, list.stderr);
    assert(/default\s+DEAD_MAX_ATTEMPTS\s+3\s+3/.test(list.stdout), list.stdout);
    const noFilter = await sluice(["dlq", "replay"], env);
    equal(noFilter.code, 2);
    const r = await sluice(["dlq", "replay", "--reason", "DEAD_MAX_ATTEMPTS", "--json"], env);
    equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    deepStrictEqual(report.replayed.map((x: { id: string }) => x.id).sort(), [...dead].sort());
    deepStrictEqual(
      report.replayed.map((x: { reason: string | null }) => x.reason),
      ["DEAD_MAX_ATTEMPTS", "DEAD_MAX_ATTEMPTS", "DEAD_MAX_ATTEMPTS"],
    );
    const perm = await bury(db.sql, "default", "DEAD_PERMANENT_ERROR", 1);
    const table = await sluice(["dlq", "replay", perm[0]!], env);
    equal(table.code, 0, table.stderr);
    assert(
      new RegExp(`${perm[0]}\\s+\\d+\\s+default\\s+DEAD_PERMANENT_ERROR`).test(table.stdout),
      table.stdout,
    );
    const retry = await sluice(["jobs", "retry", dead[0]!], env);
    equal(retry.code, 0, retry.stderr);

    const local = await sluice(["queue", "create", "hooks", "--http", "http://127.0.0.1:9/"], env);
    equal(local.code, 1, "this host is denied by default");
    assert(local.stderr.includes("DESTINATION_DENIED"), local.stderr);
    const ok = await sluice([
      "queue",
      "create",
      "hooks",
      "--http",
      "http://127.0.0.1:9/hook",
      "--http-timeout",
      "5s",
      "--header",
      "X-Tenant: 7",
    ], { ...env, SLUICE_DELIVERY_ALLOW: "127.0.0.1/32" });
    equal(ok.code, 0, ok.stderr);
    const [q] = await db.sql<{ policy: { delivery: unknown } }[]>`
      SELECT policy FROM sluice.queues WHERE name = 'hooks'`;
    deepStrictEqual(q!.policy.delivery, {
      mode: "http",
      url: "http://127.0.0.1:9/hook",
      timeoutMs: 5000,
      headers: { "x-tenant": "7" },
    });
    const denied = await sluice(
      ["queue", "create", "meta", "--http", "http://169.254.169.254/latest"],
      env,
    );
    equal(denied.code, 1);
    assert(denied.stderr.includes("DESTINATION_DENIED"), denied.stderr);
  });
});
