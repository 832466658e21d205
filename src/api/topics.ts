/**
 * Topics: publish (producer), subscriptions (admin to change, read to list). Why subscribing is
 * admin-only: a subscription routes every later publish's payload into a queue, so a producer
 * that could subscribe a queue it drains (a pull queue) would read other producers' messages,
 * and one that could subscribe someone else's queue would push work into it (SECURITY.md).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { SluiceError } from "../errors.ts";
import { enqueueJobs } from "../queue/enqueue.ts";
import { assertTopicName, listSubscriptions, subscribe, unsubscribe } from "../queue/topics.ts";
import { admitted } from "./_admit.ts";
import { timed } from "../obs/series.ts";
import { ownerOf, requireScope } from "./auth.ts";
import { type ApiContext, newRouter } from "./deps.ts";
import {
  EnqueueBody,
  errorResponses,
  jobResource,
  JobSchema,
  jsonBodyOf,
  jsonContent,
  toEnqueueInput,
} from "./schemas.ts";

const tags = ["topics"];

const SubscriptionSchema = z.object({
  topic: z.string(),
  queue: z.string(),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
}).openapi("Subscription");

const TopicParam = z.object({
  name: z.string().openapi({ param: { name: "name", in: "path" }, example: "orders" }),
});

const PublishBody = EnqueueBody.omit({ queue: true }).openapi("PublishRequest");

export function topicsRouter(ctx: ApiContext) {
  const r = newRouter();
  const { sql } = ctx;

  r.openapi(
    createRoute({
      method: "get",
      path: "/topics",
      tags,
      summary: "Topics and the queues subscribed to them",
      middleware: [requireScope("read", "producer")] as const,
      responses: {
        200: jsonContent(
          z.object({
            topics: z.array(z.object({ name: z.string(), queues: z.array(z.string()) })),
            subscriptions: z.array(SubscriptionSchema),
          }),
          "every subscription, by topic",
        ),
        ...errorResponses(),
      },
    }),
    async (c) => {
      const subscriptions = await listSubscriptions(sql);
      const byTopic = new Map<string, string[]>();
      for (const s of subscriptions) byTopic.set(s.topic, [...byTopic.get(s.topic) ?? [], s.queue]);
      const topics = [...byTopic].map(([name, queues]) => ({ name, queues }));
      return c.json({ topics, subscriptions }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/topics/{name}/subscriptions",
      tags,
      summary: "Subscribe a queue to a topic (admin)",
      middleware: [requireScope()] as const,
      request: { params: TopicParam, ...jsonBodyOf(z.strictObject({ queue: z.string() })) },
      responses: {
        201: jsonContent(z.object({ subscription: SubscriptionSchema }), "subscribed"),
        200: jsonContent(z.object({ subscription: SubscriptionSchema }), "already subscribed"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const { queue } = c.req.valid("json");
      const res = await subscribe(sql, name, queue, c.get("token").name);
      return c.json({ subscription: res.subscription }, res.created ? 201 : 200);
    },
  );

  r.openapi(
    createRoute({
      method: "delete",
      path: "/topics/{name}/subscriptions/{queue}",
      tags,
      summary: "Unsubscribe a queue from a topic (admin)",
      middleware: [requireScope()] as const,
      request: {
        params: TopicParam.extend({
          queue: z.string().openapi({ param: { name: "queue", in: "path" } }),
        }),
      },
      responses: {
        200: jsonContent(z.object({ unsubscribed: z.boolean() }), "unsubscribed"),
        ...errorResponses(404),
      },
    }),
    async (c) => {
      const { name, queue } = c.req.valid("param");
      await unsubscribe(sql, name, queue);
      return c.json({ unsubscribed: true }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: "post",
      path: "/topics/{name}/publish",
      tags,
      summary:
        "Publish: one job per subscribed queue, in one transaction; a refusal on any target queue refuses the whole publish",
      middleware: [requireScope("producer")] as const,
      request: { params: TopicParam, ...jsonBodyOf(PublishBody) },
      responses: {
        201: jsonContent(
          z.object({
            topic: z.string(),
            results: z.array(z.object({ job: JobSchema, duplicate: z.boolean() })),
          }),
          "one result per subscribed queue, in queue-name order (none without subscribers)",
        ),
        ...errorResponses(404, 409, 413, 415),
      },
    }),
    async (c) => {
      const topic = assertTopicName(c.req.valid("param").name);
      const body = c.req.valid("json");
      const token = c.get("token");
      const subs = await listSubscriptions(sql, { topic });
      if (subs.length > ctx.config.maxBatchSize) {
        throw new SluiceError(
          "BATCH_TOO_LARGE",
          `topic '${topic}' has ${subs.length} subscribers, more than one request may enqueue (${ctx.config.maxBatchSize})`,
          { size: subs.length, max: ctx.config.maxBatchSize },
        );
      }
      const inputs = subs.map((s) => ({
        ...toEnqueueInput(body, token.name),
        queue: s.queue,
        owner: ownerOf(c),
      }));
      const results = inputs.length === 0
        ? []
        : await admitted(ctx, inputs, (opts) =>
          timed(ctx.series, "enqueue", () =>
            enqueueJobs(sql, inputs, opts)));
      return c.json({
        topic,
        results: results.map((x) => ({ job: jobResource(x.job), duplicate: x.duplicate })),
      }, 201);
    },
  );

  return r;
}
