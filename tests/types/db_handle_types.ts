/**
 * Type-level test, checked by `deno task check` and never run: the README's "As a library"
 * example compiles as written, every engine verb takes a pool or a transaction, and pool-only
 * operations refuse a transaction. A regression here fails the check, not a test run.
 */
import postgres from "postgres";
import { atomically, type Db, type Sql, type Tx } from "../../src/db/connect.ts";
import { applyCallback } from "../../src/queue/callbacks.ts";
import { replayDeadLetters } from "../../src/queue/dlq.ts";
import { Engine } from "../../src/queue/engine.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { completeJobs } from "../../src/queue/outcome.ts";
import {
  createQueue,
  Engine as EngineFromMod,
  enqueueJob,
  handlerMap,
  setQueuePaused,
  Worker,
} from "../../src/mod.ts";

// The README example, verbatim but for the import path.
export async function readmeExample(): Promise<void> {
  const sql = postgres(Deno.env.get("DATABASE_URL")!);
  // Enqueue inside your own transaction: the job exists only if the transaction commits.
  await sql.begin((tx) =>
    enqueueJob(tx, { queue: "default", kind: "email.send", payload: { to: "a@b.c" } })
  );

  const worker = new Worker({
    sql,
    workerId: "app-1",
    queues: ["default"],
    concurrency: 10,
    leaseMs: 30_000,
    pollMs: 1_000,
    shutdownGraceMs: 30_000,
    handlers: handlerMap({ "email.send": async (_payload, { signal: _ }) => {/* … */} }),
  });
  await worker.start();
}

// Both handles are a Db; verbs compose inside one caller-owned transaction.
export async function verbsTakeEitherHandle(sql: Sql): Promise<void> {
  const engine = new Engine(sql);
  const pool: Db = sql;
  await enqueueJob(pool, { kind: "k" }, { policies: engine.policies });
  await sql.begin(async (tx) => {
    const asDb: Db = tx;
    await createQueue(asDb, "q");
    await setQueuePaused(tx, "q", true);
    await enqueueJob(tx, { queue: "q", kind: "k" }, { policies: engine.policies });
    const jobs = await leaseJobs(tx, {
      queue: "q",
      workerId: "w",
      max: 1,
      leaseMs: 1_000,
      tokens: engine.leaseTokens,
    });
    await completeJobs(tx, jobs);
    await replayDeadLetters(tx, { ids: [] });
    await applyCallback(tx, {
      eventId: "e",
      jobId: "1",
      attempt: 1,
      status: "succeeded",
      leaseToken: "t",
    });
    await atomically(tx, (inner: Tx) => inner`SELECT 1`);
  });
}

// A pool-only operation does not accept a transaction.
export async function poolOnly(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    // @ts-expect-error a transaction cannot open a transaction (use atomically or savepoint)
    await tx.begin(() => Promise.resolve());
    // @ts-expect-error a transaction cannot end the pool
    new Engine(tx);
  });
}

// The README's policy-cache example.
export async function readmeEngineExample(sql: Sql): Promise<void> {
  const engine = new EngineFromMod(sql);
  await enqueueJob(sql, { kind: "email.send", payload: {} }, { policies: engine.policies });
}
