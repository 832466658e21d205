import { equal, ok as assert } from "node:assert/strict";
import { getLeader } from "../../src/maintenance/leader.ts";
import { testDatabaseEnv, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

const TTL_MS = 2_000;

function spawnMaintenance(env: Record<string, string>, id: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "maintenance"],
    env: {
      ...env,
      NO_COLOR: "1",
      SLUICE_WORKER_ID: id,
      SLUICE_MAINTENANCE_LEADER_TTL: `${TTL_MS}ms`,
      SLUICE_MAINTENANCE_INTERVAL: "200ms",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  void (async () => {
    const decoder = new TextDecoderStream();
    for await (const chunk of child.stdout.pipeThrough(decoder)) lines.push(...chunk.split("\n"));
  })();
  void child.stderr.cancel();
  return { child, lines, holder: `${id}/maintenance` };
}

Deno.test("two sluice maintenance processes: one leads, the other takes over after kill -9", async () => {
  await withTestDatabase(async (db) => {
    const env = testDatabaseEnv(db);
    const a = spawnMaintenance(env, "m-a");
    const b = spawnMaintenance(env, "m-b");
    try {
      const first = await waitFor(async () => {
        const l = await getLeader(db.sql);
        return l?.live ? l : null;
      }, { timeoutMs: 30_000, what: "a maintenance leader" });
      const [leader, standby] = first.holder === a.holder ? [a, b] : [b, a];
      equal(first.holder, leader.holder);
      // Both run; only one holds the lease: the standby never acquired it.
      await waitFor(() => standby.lines.some((l) => l.includes("maintenance_started")), {
        timeoutMs: 30_000,
        what: "the standby to start",
      });
      await waitFor(async () => {
        const [r] = await db.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM sluice.maintenance_passes WHERE holder = ${leader.holder}`;
        return r!.n > 0;
      }, { what: "a pass by the leader" });
      assert(!standby.lines.some((l) => l.includes("maintenance_leader_acquired")));

      leader.child.kill("SIGKILL");
      const killedAt = Date.now();
      await leader.child.status;
      const next = await waitFor(async () => {
        const l = await getLeader(db.sql);
        return l?.holder === standby.holder && l.live ? l : null;
      }, { timeoutMs: 30_000, what: "takeover by the standby" });
      const took = Date.now() - killedAt;
      equal(next.term, first.term + 1);
      // Within the TTL plus the standby's poll (TTL/3) and generous slack for a loaded machine.
      assert(took < TTL_MS + 8_000, `takeover took ${took} ms`);

      standby.child.kill("SIGTERM");
      equal((await standby.child.status).code, 0);
      const after = await getLeader(db.sql);
      assert(after && !after.live, "a graceful stop releases the lease");
    } finally {
      for (const p of [a, b]) {
        try {
          p.child.kill("SIGKILL");
        } catch { /* already exited */ }
        await p.child.status;
      }
    }
  });
});
