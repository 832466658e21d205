/** A worker process: its name, which queues it leases from, how many jobs at once, leases, shutdown. */
import { isQueueName } from "../../queue/names.ts";
import {
  duration,
  int,
  Invalid,
  invalid,
  list,
  listenAddr,
  quote,
  showDuration,
  showListenAddr,
} from "../parse.ts";
import { v } from "../spec.ts";

function queueList(raw: string): string[] | null {
  const out: string[] = [];
  const bad: string[] = [];
  for (const name of list(raw)) {
    if (!isQueueName(name)) {
      bad.push(
        `${
          quote(name)
        } is not a valid queue name (lowercase letters and digits separated by '.', '_' or '-', at most 64 characters)`,
      );
    } else if (!out.includes(name)) out.push(name);
  }
  if (bad.length > 0) throw new Invalid(bad);
  return out.length === 0 ? null : out;
}

function workerId(raw: string): string {
  const t = raw.trim();
  if (t.length > 128 || !/^[\x21-\x7e]+$/.test(t)) {
    invalid(`${quote(raw)} is not a worker id (1 to 128 printable characters, no spaces)`);
  }
  return t;
}

function defaultWorkerId(): string {
  let host = "sluice";
  try {
    host = Deno.hostname();
  } catch {
    // No --allow-sys: the pid alone still tells workers on one host apart.
  }
  return `${host}-${Deno.pid}`;
}

export const WORKER_VARS = {
  workerId: v({
    name: "SLUICE_WORKER_ID",
    default: defaultWorkerId,
    parse: workerId,
    description: "This worker's name in timelines and leases; default <hostname>-<pid>",
  }),
  queues: v({
    name: "SLUICE_QUEUES",
    default: null,
    parse: queueList,
    nullLabel: "(all queues)",
    description: "Queues this worker leases from, comma-separated; unset or empty = all queues",
  }),
  concurrency: v({
    name: "SLUICE_CONCURRENCY",
    default: "10",
    parse: int({ min: 1, max: 10_000 }),
    description: "Jobs one worker runs at once (1 to 10000); default 10",
  }),
  leaseMs: v({
    name: "SLUICE_LEASE",
    default: "30s",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "Lease length, extended by heartbeats; a dead worker's jobs return after it (min 1s)",
  }),
  pollMs: v({
    name: "SLUICE_POLL",
    default: "1s",
    parse: duration({ min: 10 }),
    show: showDuration,
    description: "Fallback poll interval; LISTEN/NOTIFY is the normal wake-up; default 1s",
  }),
  shutdownGraceMs: v({
    name: "SLUICE_SHUTDOWN_GRACE",
    default: "30s",
    parse: duration(),
    show: showDuration,
    description: "On SIGTERM, how long running jobs may finish before they are released; 30s",
  }),
  workerMetricsAddr: v({
    name: "SLUICE_WORKER_METRICS_ADDR",
    default: "127.0.0.1:9464",
    parse: listenAddr,
    show: (a) => a === null ? "off" : showListenAddr(a),
    nullLabel: "off",
    description:
      "Worker /healthz and /metrics listen address; off disables; default 127.0.0.1:9464",
  }),
};
