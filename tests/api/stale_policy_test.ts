/**
 * Over HTTP, a queue changed a moment ago by another process (plain SQL here, so no cache of
 * this app can have heard of it) cannot let a job in through the engine's cached policy:
 * the INSERT re-checks what the cache holds (src/queue/policies.ts).
 */
import { equal } from "node:assert/strict";
import { type TestApi, withTestApi } from "./_app.ts";

async function warmQueue(api: TestApi, body: Record<string, unknown>): Promise<void> {
  equal((await api.call("POST", "/v1/queues", { body: { name: "mail", ...body } })).status, 201);
  // One accepted enqueue puts the queue's policy in the engine's cache.
  const first = await api.call("POST", "/v1/jobs", {
    as: "producer",
    body: { queue: "mail", kind: "k" },
  });
  equal(first.status, 201);
}

async function jobsIn(api: TestApi): Promise<number> {
  const [{ n }] = await api.db.sql<[{ n: number }]>`
    SELECT count(*)::int AS n FROM sluice.jobs WHERE queue = 'mail'`;
  return n;
}

async function refused(api: TestApi, status: number, code: string): Promise<void> {
  for (const path of ["/v1/jobs", "/v1/jobs/batch"]) {
    const body = path.endsWith("batch")
      ? { jobs: [{ queue: "mail", kind: "k" }] }
      : { queue: "mail", kind: "k" };
    const r = await api.call("POST", path, { as: "producer", body });
    equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
    equal(r.body.error.code, code);
  }
}

const CHANGES: {
  what: string;
  policy: Record<string, unknown>;
  change: string;
  status: number;
  code: string;
}[] = [
  {
    what: "paused (refusing while paused)",
    policy: { rejectWhenPaused: true },
    change: "UPDATE sluice.queues SET paused = true WHERE name = 'mail'",
    status: 409,
    code: "QUEUE_PAUSED",
  },
  {
    what: "deleted",
    policy: {},
    change: "DELETE FROM sluice.queues WHERE name = 'mail'",
    status: 404,
    code: "QUEUE_NOT_FOUND",
  },
  {
    what: "shrunk below its size",
    policy: { maxQueueSize: 10 },
    change: `UPDATE sluice.queues SET policy = policy || '{"maxQueueSize": 1}' WHERE name = 'mail'`,
    status: 429,
    code: "QUEUE_FULL",
  },
];

for (const c of CHANGES) {
  Deno.test(`over HTTP a queue ${c.what} just now lets no job in`, async () => {
    await withTestApi(async (api) => {
      await warmQueue(api, c.policy);
      // Fixed test SQL, no input: the change another process makes behind the cache's back.
      await api.db.sql.unsafe(c.change);
      await refused(api, c.status, c.code);
      equal(await jobsIn(api), 1);
    });
  });
}

Deno.test("over HTTP a queue resumed just now accepts at once", async () => {
  await withTestApi(async (api) => {
    await warmQueue(api, { rejectWhenPaused: true });
    equal((await api.call("POST", "/v1/queues/mail/pause")).status, 200);
    await refused(api, 409, "QUEUE_PAUSED");
    await api.db.sql`UPDATE sluice.queues SET paused = false WHERE name = 'mail'`;
    const r = await api.call("POST", "/v1/jobs", {
      as: "producer",
      body: { queue: "mail", kind: "k" },
    });
    equal(r.status, 201);
    equal(await jobsIn(api), 2);
  });
});
