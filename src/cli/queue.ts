import { parseSize } from "../config/parse.ts";
import { assertDestinationAllowed, destinationRules } from "../delivery/destination.ts";
import { emptyCounts } from "../queue/inspect.ts";
import { readDbGauges } from "../obs/db_gauges.ts";
import {
  createQueue,
  getQueue,
  listQueues,
  type QueuePolicy,
  setQueuePaused,
  setQueueRefusingNew,
  updateQueuePolicy,
} from "../queue/queues.ts";
import { drainQueue } from "../queue/drain.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { durationFlag, intFlag, onePositional, withOperatorDb } from "./_operator.ts";
import { printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice queue <subcommand> [options] [--json]

Subcommands:
  list                   queues with job counts per state and their paused flag
  get NAME               one queue: stored policy and what is in effect
  create NAME [policy]   create a queue
  set NAME [policy]      change a queue's policy (only the options given)
  pause NAME             stop leasing from the queue (enqueues are still accepted)
  resume NAME            lease again (and accept enqueues again after drain --refuse-new)
  drain NAME             pause and report whether running jobs finished (run again to poll)
  drain NAME --refuse-new  refuse new enqueues (QUEUE_DRAINING) and keep processing until the
                         queue is empty; "drained" once nothing is unfinished
  drain NAME --accept    accept enqueues again (leasing unchanged)

Policy options ("none" removes a limit; omitted options take the SLUICE_* defaults):
  --concurrency N            jobs of this queue running at once, across all workers
  --key-concurrency N        jobs running at once per concurrency key (jobs enqueued with
                             --concurrency-key), across all workers
  --rate N/DURATION          jobs started per interval across all workers, e.g. 100/1m
  --max-attempts N           default attempts for new jobs
  --timeout DURATION         per-attempt timeout, e.g. 30s
  --backoff BASE,MAX         retry backoff, e.g. 1s,1h (exponential, full jitter)
  --max-payload SIZE         e.g. 256KB
  --max-queue-size N         unfinished jobs before enqueue answers QUEUE_FULL
  --max-enqueue-per-minute N enqueues per minute before ENQUEUE_RATE_EXCEEDED
  --exec COMMAND             deliver by running COMMAND (job JSON on stdin)
  --pull                     deliver to external pull workers (HTTP lease API)
  --inline                   deliver to handlers registered in the worker (default)
  --when-paused accept|reject  while paused, accept enqueues to run them later (default) or
                             refuse them with QUEUE_PAUSED
  --http URL                 push each job to URL, signed (Standard Webhooks); the URL is
                             checked against SLUICE_DELIVERY_DENY/_ALLOW
  --http-timeout DURATION    per-request timeout for --http (default 30s)
  --header "Name: value"     extra request header for --http (repeatable)
  --oidc-audience AUD        each --http push carries an ID token minted by Sluice for AUD
                             (Authorization: Bearer <JWT>; keys at /.well-known/jwks.json)

Options:
  --json   machine-readable output
  -h, --help
`;

const FLAGS = {
  json: { type: "boolean" },
  concurrency: { type: "string" },
  "key-concurrency": { type: "string" },
  rate: { type: "string" },
  "max-attempts": { type: "string" },
  timeout: { type: "string" },
  backoff: { type: "string" },
  "max-payload": { type: "string" },
  "max-queue-size": { type: "string" },
  "max-enqueue-per-minute": { type: "string" },
  exec: { type: "string" },
  pull: { type: "boolean" },
  inline: { type: "boolean" },
  http: { type: "string" },
  "http-timeout": { type: "string" },
  "oidc-audience": { type: "string" },
  header: { type: "string", multiple: true },
  "when-paused": { type: "string" },
  "refuse-new": { type: "boolean" },
  accept: { type: "boolean" },
} as const;

type Values =
  & {
    [K in Exclude<keyof typeof FLAGS, "header">]?: typeof FLAGS[K]["type"] extends "boolean"
      ? boolean
      : string;
  }
  & { header?: string[] };

export const queueCommand: Command = {
  name: "queue",
  summary: "list, create, configure, pause, resume and drain queues",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP, { allowPositionals: true });
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values as Values;
      const json = v.json === true;
      if (!sub) {
        throw new UsageError("missing subcommand (list, get, create, set, pause, resume, drain)");
      }
      if ((v["refuse-new"] || v.accept) && sub !== "drain") {
        throw new UsageError(`--refuse-new and --accept apply to 'queue drain' only`);
      }
      const policy = policyFromFlags(v);
      if (Object.keys(policy).length > 0 && sub !== "create" && sub !== "set") {
        throw new UsageError(`policy options do not apply to 'queue ${sub}'`);
      }
      return await withOperatorDb(async (sql, { config, defaults }) => {
        // Destinations are checked when saved (and again before every request).
        if (policy.delivery?.mode === "http") {
          await assertDestinationAllowed(policy.delivery.url, destinationRules(config));
        }
        switch (sub) {
          case "list": {
            if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
            // The API's and the metrics' counts (src/obs/db_gauges.ts): succeeded and cancelled
            // from maintenance's snapshot (at most a minute old), a full scan otherwise.
            const [queues, facts] = await Promise.all([
              listQueues(sql, defaults),
              readDbGauges(sql),
            ]);
            const rows = queues.map((q) => ({
              ...q,
              counts: facts.queues.get(q.name)?.counts ?? emptyCounts(),
            }));
            if (json) printJson({ queues: rows });
            else {
              printTable(rows.map((q) => ({
                name: q.name,
                paused: q.paused ? "yes" : "no",
                delivery: q.effective.delivery.mode,
                ...q.counts,
              })));
            }
            return EXIT_OK;
          }
          case "get": {
            const q = await getQueue(sql, onePositional(rest, "queue name"), defaults);
            printJson({ queue: q });
            return EXIT_OK;
          }
          case "create":
          case "set": {
            const name = onePositional(rest, "queue name");
            const q = sub === "create"
              ? await createQueue(sql, name, policy, defaults)
              : await updateQueuePolicy(sql, name, policy, defaults);
            if (json) printJson({ queue: q });
            else {console.log(
                `${
                  sub === "create" ? "created" : "updated"
                } queue ${q.name} (delivery ${q.effective.delivery.mode})`,
              );}
            return EXIT_OK;
          }
          case "pause":
          case "resume": {
            const q = await setQueuePaused(
              sql,
              onePositional(rest, "queue name"),
              sub === "pause",
              defaults,
            );
            if (json) printJson({ queue: q });
            else console.log(`queue ${q.name} is ${q.paused ? "paused" : "running"}`);
            return EXIT_OK;
          }
          case "drain": {
            const name = onePositional(rest, "queue name");
            if (v["refuse-new"] && v.accept) {
              throw new UsageError("give either --refuse-new or --accept, not both");
            }
            if (v.accept) {
              const q = await setQueueRefusingNew(sql, name, false, defaults);
              if (json) printJson({ queue: q });
              else console.log(`queue ${q.name} accepts new jobs again`);
              return EXIT_OK;
            }
            const s = await drainQueue(sql, name, defaults, { refuseNew: v["refuse-new"] });
            if (json) printJson(s);
            else {
              const left = Object.entries(s.counts).filter(([, n]) => n > 0)
                .map(([state, n]) => `${n} ${state}`).join(", ") || "nothing unfinished";
              console.log(
                `queue ${name} ${
                  v["refuse-new"] ? "refuses new jobs and keeps processing" : "is paused"
                }: ${left}${s.drained ? " (drained)" : ""}`,
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

const orNone = <T>(value: string | undefined, parse: (s: string) => T): T | null | undefined =>
  value === undefined ? undefined : value === "none" ? null : parse(value);

function policyFromFlags(v: Values): QueuePolicy {
  const p: QueuePolicy = {};
  p.concurrency = orNone(v.concurrency, (s) => intFlag("concurrency", s, 1, 100_000)!);
  p.keyConcurrency = orNone(
    v["key-concurrency"],
    (s) => intFlag("key-concurrency", s, 1, 100_000)!,
  );
  p.rateLimit = orNone(v.rate, (s) => {
    const [count, per] = s.split("/");
    const n = intFlag("rate", count, 1, 1_000_000);
    const perMs = durationFlag("rate", per ?? "");
    if (n === undefined || perMs === undefined || perMs <= 0) {
      throw new UsageError(`--rate: "${s}" is not N/DURATION, e.g. 100/1m`);
    }
    return { count: n, perMs };
  });
  if (v["max-attempts"] !== undefined) {
    p.maxAttempts = intFlag("max-attempts", v["max-attempts"], 1, 1000);
  }
  p.timeoutMs = orNone(v.timeout, (s) => durationFlag("timeout", s)!);
  if (v.backoff !== undefined) {
    const [base, max] = v.backoff.split(",");
    const baseMs = durationFlag("backoff", base), maxMs = durationFlag("backoff", max ?? "");
    if (baseMs === undefined || maxMs === undefined || maxMs < baseMs) {
      throw new UsageError(`--backoff: "${v.backoff}" is not BASE,MAX, e.g. 1s,1h`);
    }
    p.backoff = { baseMs, maxMs };
  }
  p.maxPayloadBytes = orNone(v["max-payload"], (s) => {
    const n = parseSize(s);
    if (n === null) throw new UsageError(`--max-payload: "${s}" is not a size (e.g. 256KB)`);
    return n;
  });
  p.maxQueueSize = orNone(
    v["max-queue-size"],
    (s) => intFlag("max-queue-size", s, 1, 2 ** 31 - 1)!,
  );
  p.maxEnqueuePerMinute = orNone(
    v["max-enqueue-per-minute"],
    (s) => intFlag("max-enqueue-per-minute", s, 1, 2 ** 31 - 1)!,
  );
  const whenPaused = v["when-paused"];
  if (whenPaused !== undefined) {
    if (whenPaused !== "accept" && whenPaused !== "reject") {
      throw new UsageError(`--when-paused: "${whenPaused}" is not accept or reject`);
    }
    p.rejectWhenPaused = whenPaused === "reject";
  }
  const modes = [v.exec !== undefined, v.pull === true, v.inline === true, v.http !== undefined]
    .filter(Boolean).length;
  if (modes > 1) throw new UsageError("give only one of --exec, --pull, --inline, --http");
  const httpOnly = [v["http-timeout"], v.header, v["oidc-audience"]];
  if (httpOnly.some((x) => x !== undefined) && v.http === undefined) {
    throw new UsageError("--http-timeout, --header and --oidc-audience need --http");
  }
  if (v.http !== undefined) {
    const headers: Record<string, string> = {};
    for (const h of v.header ?? []) {
      const m = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+):\s*(.*)$/.exec(h);
      if (!m) throw new UsageError(`--header: "${h}" is not "Name: value"`);
      headers[m[1]!.toLowerCase()] = m[2]!;
    }
    p.delivery = {
      mode: "http",
      url: v.http,
      ...(v["http-timeout"] !== undefined
        ? { timeoutMs: durationFlag("http-timeout", v["http-timeout"]) }
        : {}),
      ...(v.header !== undefined ? { headers } : {}),
      ...(v["oidc-audience"] ? { oidcAudience: v["oidc-audience"] } : {}),
    };
  }
  if (v.exec !== undefined) p.delivery = { mode: "exec", command: v.exec };
  if (v.pull) p.delivery = { mode: "pull" };
  if (v.inline) p.delivery = { mode: "inline" };
  return Object.fromEntries(Object.entries(p).filter(([, x]) => x !== undefined)) as QueuePolicy;
}
