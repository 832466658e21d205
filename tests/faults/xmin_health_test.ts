/**
 * Fault: a transaction held open (a REPEATABLE READ snapshot pins the xmin horizon) while a real
 * `sluice up` takes HTTP load. Throughput goes on, and `/health` details (authenticated only)
 * name the holder once it passes SLUICE_XMIN_HORIZON_WARN; anonymous callers see no details.
 * (The long-run throughput side: load_test.ts "transaction held open".)
 */
import { equal, ok as assert } from "node:assert/strict";
import { createQueue } from "../../src/queue/queues.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { FULL } from "./_procs.ts";

Deno.test("a transaction held open during load: work continues and /health details warn about the xmin horizon", async () => {
  await withTestDatabase(async (db) => {
    const token = `sluice_${crypto.randomUUID().replaceAll("-", "")}`;
    await createQueue(db.sql, "x", {});
    const api = await startSluice(db, {
      token,
      env: { SLUICE_XMIN_HORIZON_WARN: "1s", SLUICE_QUEUES: "x" },
    });
    const auth = { authorization: `Bearer ${token}` };
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let holding: Promise<unknown> = Promise.resolve();
    try {
      // The holder: a snapshot taken now and kept until the end of the test.
      let holderPid = 0;
      const opened = new Promise<void>((ready) => {
        holding = db.sql.begin("isolation level repeatable read", async (tx) => {
          const [r] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
          await tx`SELECT count(*) FROM sluice.jobs`;
          holderPid = r!.pid;
          ready();
          await held;
        });
      });
      await opened;

      const total = FULL ? 2_000 : 300;
      const ids: string[] = [];
      for (let i = 0; i < total; i += 50) {
        const r = await fetch(`${api.base}/v1/jobs/batch`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({
            jobs: Array.from({ length: 50 }, () => ({ queue: "x", kind: "sluice.noop" })),
          }),
        });
        equal(r.status, 201);
        ids.push(...(await r.json()).results.map((x: { job: { id: string } }) => x.job.id));
      }
      await waitFor(async () => {
        const [r] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM sluice.jobs
          WHERE id = ANY(${ids}::bigint[]) AND state = 'succeeded'`;
        return r!.n === ids.length;
      }, { timeoutMs: 60_000, intervalMs: 100, what: "every job processed beside the snapshot" });

      const health = await waitFor(async () => {
        const r = await fetch(`${api.base}/health`, { headers: auth });
        const b = await r.json();
        return b.details?.tableHealth?.warnings?.length || b.tableHealth?.warnings?.length
          ? b
          : null;
      }, { timeoutMs: 20_000, intervalMs: 250, what: "/health to warn about the xmin horizon" });
      const th = health.details?.tableHealth ?? health.tableHealth;
      assert(
        th.warnings.some((w: string) =>
          w.includes(`pid ${holderPid}`) && /held back vacuum/.test(w)
        ),
        JSON.stringify(th),
      );
      assert(th.oldestXminSeconds >= 1, JSON.stringify(th));
      const anon = await (await fetch(`${api.base}/health`)).json();
      equal(JSON.stringify(anon).includes("vacuum"), false, "no details without a token");
      console.log(`xmin: ${ids.length} jobs processed beside the snapshot; ${th.warnings[0]}`);
    } finally {
      release();
      await holding.catch(() => {});
      await api.stop();
    }
  });
});
