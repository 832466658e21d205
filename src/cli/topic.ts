import { listSubscriptions, publish, subscribe, unsubscribe } from "../queue/topics.ts";
import {
  type Command,
  EXIT_OK,
  parseFlags,
  reportError,
  subcommandOf,
  UsageError,
} from "./_command.ts";
import {
  ENQUEUE_FLAG_NAMES,
  ENQUEUE_FLAGS,
  ENQUEUE_FLAGS_HELP,
  type EnqueueFlagValues,
  enqueueInputOf,
} from "./_enqueue_flags.ts";
import { onePositional, withOperatorDb } from "./_operator.ts";
import { printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice topic <subcommand> [options] [--json]

Topics fan one message out to every subscribed queue: a publish enqueues one job per
subscribed queue in one transaction, all or nothing (a refusal by any queue refuses it all).

Subcommands:
  publish NAME ${ENQUEUE_FLAGS_HELP}
                         one job per subscribed queue
  subscribe NAME --queue Q     subscribe queue Q to topic NAME
  unsubscribe NAME --queue Q
  list [NAME]            subscriptions, by topic

Options:
  --json   machine-readable output
  -h, --help

Example:
  sluice topic subscribe orders --queue emails
  sluice topic publish orders --kind order.created --payload '{"order":42}'
`;

const FLAGS = { json: { type: "boolean" }, queue: { type: "string" }, ...ENQUEUE_FLAGS } as const;

type Values = EnqueueFlagValues & { json?: boolean; queue?: string };

const ALLOWED: Record<string, (keyof Values)[]> = {
  publish: ENQUEUE_FLAG_NAMES,
  subscribe: ["queue"],
  unsubscribe: ["queue"],
  list: [],
};

export const topicCommand: Command = {
  name: "topic",
  summary: "publish to topics and manage their subscriptions",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const v = parsed.values as Values;
      const { sub, rest } = subcommandOf("topic", parsed.positionals, v, ALLOWED);
      const json = v.json === true;
      const queueOf = () => {
        if (!v.queue) throw new UsageError("--queue is required");
        return v.queue;
      };
      return await withOperatorDb(async (sql, { defaults }) => {
        switch (sub) {
          case "publish": {
            const topic = onePositional(rest, "topic name");
            const { results } = await publish(sql, topic, enqueueInputOf(v), { defaults });
            if (json) printJson({ topic, results });
            else if (results.length === 0) console.log(`topic ${topic} has no subscribers`);
            else {
              for (const r of results) {
                console.log(
                  `${
                    r.duplicate ? "duplicate of" : "enqueued"
                  } job ${r.job.id} (queue ${r.job.queue})`,
                );
              }
            }
            return EXIT_OK;
          }
          case "subscribe": {
            const topic = onePositional(rest, "topic name");
            const r = await subscribe(sql, topic, queueOf(), "cli");
            if (json) printJson(r);
            else {
              console.log(
                `${
                  r.created ? "subscribed" : "already subscribed:"
                } queue ${r.subscription.queue} to topic ${topic}`,
              );
            }
            return EXIT_OK;
          }
          case "unsubscribe": {
            const topic = onePositional(rest, "topic name");
            await unsubscribe(sql, topic, queueOf());
            if (json) printJson({ unsubscribed: true });
            else console.log(`unsubscribed queue ${v.queue} from topic ${topic}`);
            return EXIT_OK;
          }
          case "list": {
            if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}'`);
            const subs = await listSubscriptions(sql, { topic: rest[0] ?? null });
            if (json) printJson({ subscriptions: subs });
            else {
              printTable(
                subs.map((s) => ({
                  topic: s.topic,
                  queue: s.queue,
                  by: s.createdBy,
                  since: s.createdAt,
                })),
                ["topic", "queue", "by", "since"],
              );
            }
            return EXIT_OK;
          }
        }
        throw new UsageError(`unknown subcommand '${sub}'`);
      });
    } catch (e) {
      return reportError(e);
    }
  },
};
