/**
 * Topics (docs/flow-control.md): a publish to a topic enqueues one job per subscribed queue,
 * in one statement (enqueueJobs), so the publish is all or nothing: a refusal on any target
 * (paused with rejectWhenPaused, draining, payload too large, and the API's admission control
 * per target queue) refuses the whole publish, and no subscriber gets a partial fan-out.
 * Subscribing a queue is an operator action (SECURITY.md "Topics").
 */
import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import {
  type EnqueueInput,
  enqueueJobs,
  type EnqueueOptions,
  type EnqueueResult,
} from "./enqueue.ts";
import { assertName } from "./names.ts";
import { queueNotFound } from "./queues.ts";

export interface Subscription {
  topic: string;
  queue: string;
  createdBy: string | null;
  createdAt: string;
}

interface SubscriptionRow {
  topic: string;
  queue: string;
  created_by: string | null;
  created_at: Date;
}

const toSubscription = (r: SubscriptionRow): Subscription => ({
  topic: r.topic,
  queue: r.queue,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
});

/** Topic names follow queue names: lowercase words joined by '.', '_' or '-', at most 64. */
export function assertTopicName(name: unknown): string {
  return assertName(name, "topic", "VALIDATION_FAILED");
}

/** Subscribes `queue` to `topic`; subscribing twice keeps the first (created: false). */
export async function subscribe(
  sql: Db,
  topic: string,
  queue: string,
  createdBy: string | null = null,
): Promise<{ subscription: Subscription; created: boolean }> {
  assertTopicName(topic);
  const [q] = await sql`SELECT 1 FROM sluice.queues WHERE name = ${queue}`;
  if (!q) throw queueNotFound(queue);
  const [inserted] = await sql<SubscriptionRow[]>`
    INSERT INTO sluice.topic_subscriptions (topic, queue, created_by)
    VALUES (${topic}, ${queue}, ${createdBy})
    ON CONFLICT (topic, queue) DO NOTHING
    RETURNING topic, queue, created_by, created_at`;
  if (inserted) return { subscription: toSubscription(inserted), created: true };
  const [existing] = await sql<SubscriptionRow[]>`
    SELECT topic, queue, created_by, created_at FROM sluice.topic_subscriptions
    WHERE topic = ${topic} AND queue = ${queue}`;
  // Gone between the two statements (an unsubscribe raced): subscribe again.
  if (!existing) return await subscribe(sql, topic, queue, createdBy);
  return { subscription: toSubscription(existing), created: false };
}

export async function unsubscribe(sql: Db, topic: string, queue: string): Promise<void> {
  const rows = await sql`
    DELETE FROM sluice.topic_subscriptions WHERE topic = ${topic} AND queue = ${queue}
    RETURNING 1`;
  if (rows.length === 0) {
    throw new SluiceError(
      "SUBSCRIPTION_NOT_FOUND",
      `queue '${queue}' is not subscribed to topic '${topic}'`,
      { topic, queue },
    );
  }
}

export async function listSubscriptions(
  sql: Db,
  f: { topic?: string | null } = {},
): Promise<Subscription[]> {
  const rows = await sql<SubscriptionRow[]>`
    SELECT topic, queue, created_by, created_at FROM sluice.topic_subscriptions
    ${f.topic != null ? sql`WHERE topic = ${f.topic}` : sql``}
    ORDER BY topic, queue`;
  return rows.map(toSubscription);
}

/**
 * Publishes one message: one job per subscribed queue (in queue-name order), `input` with its
 * queue set to each target. No subscriber: nothing is enqueued and the answer lists no job.
 */
export async function publish(
  sql: Db,
  topic: string,
  input: Omit<EnqueueInput, "queue">,
  opts: EnqueueOptions = {},
): Promise<{ topic: string; results: EnqueueResult[] }> {
  assertTopicName(topic);
  const subs = await listSubscriptions(sql, { topic });
  if (subs.length === 0) return { topic, results: [] };
  const inputs = subs.map((s) => ({ ...input, queue: s.queue }));
  return { topic, results: await enqueueJobs(sql, inputs, opts) };
}
