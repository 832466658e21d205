import {
  type Command,
  EXIT_FAILURE,
  EXIT_OK,
  parseFlags,
  reportError,
  UsageError,
} from "./_command.ts";
import {
  baseUrlFlag,
  describeAnswer,
  type HttpAnswer,
  httpRequest,
  type HttpTarget,
  tokenFlags,
} from "./_http.ts";
import { durationFlag } from "./_operator.ts";

const HELP = `Usage: sluice smoke --api URL --token T [--queue Q] [--worker URL]... [--timeout 60s]

End-to-end smoke test against a running deployment, through its API, as a producer would:

  1. the api is ready (GET /readyz)
  2. the queue exists (created with POST /v1/queues when missing; needs an admin token then)
     and is not paused
  3. a sluice.noop job is enqueued and reaches succeeded
  4. a sluice.fail {"permanent":true} job is enqueued and reaches dead; it is replayed with
     POST /v1/jobs/:id/replay, the new job is linked to it (retryOf) and runs (and dies
     again: that is expected)
  5. sluice_jobs_processed_total grew, summed over the api's /metrics/prom and every
     --worker's /metrics/prom (skipped when none of them serves it)
  6. clean up: every job it created that has not finished is cancelled

Progress is one line per step. The queue is kept for the next run; its two dead jobs stay in
the dead-letter queue (dlq_growth fires for the smoke queue for up to 10 minutes).

Options:
  --api URL           the api role (or sluice up), e.g. http://127.0.0.1:8080
  --token T           an admin token (producer is enough when the queue exists);
                      --token-file F reads it from a file
  --queue Q           the queue to use (default sluice-smoke); workers must serve it
  --worker URL        a worker's metrics address, for step 5; repeatable
  --timeout DURATION  how long each job may take to finish (default 60s)
  -h, --help

Exit codes: 0 every step passed, 1 a step failed (the line says which and why), 2 usage error.
`;

const FLAGS = {
  api: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  queue: { type: "string" },
  worker: { type: "string", multiple: true },
  timeout: { type: "string" },
} as const;

const FINISHED = new Set(["succeeded", "dead", "cancelled"]);
const POLL_MS = 200;

interface Job {
  id: string;
  state: string;
  attempt: number;
  retryOf: string | null;
  deadReason: string | null;
}

export interface SmokeOptions {
  api: string;
  token: string;
  queue: string;
  workers: string[];
  timeoutMs: number;
  /** Where progress lines go (stdout by default). */
  say?: (line: string) => void;
}

export const smokeCommand: Command = {
  name: "smoke",
  summary: "end-to-end smoke test of a running deployment (enqueue, succeed, dead, replay)",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(args, FLAGS, HELP);
      if (!parsed) return EXIT_OK;
      const v = parsed.values;
      if (v.api === undefined) throw new UsageError("--api URL is required");
      const token = await tokenFlags(v.token, v["token-file"]);
      if (token === null) throw new UsageError("--token (or --token-file) is required");
      const ok = await runSmoke({
        api: baseUrlFlag("api", v.api),
        token,
        queue: v.queue ?? "sluice-smoke",
        workers: (v.worker ?? []).map((w) => baseUrlFlag("worker", w)),
        timeoutMs: durationFlag("timeout", v.timeout) ?? 60_000,
      });
      return ok ? EXIT_OK : EXIT_FAILURE;
    } catch (e) {
      return reportError(e);
    }
  },
};

/** A failed step: its line is printed as `FAIL <step>: <message>`. */
class StepFailed extends Error {}

/** Runs the smoke test; true when every step passed. Never throws for a failing deployment. */
export async function runSmoke(o: SmokeOptions): Promise<boolean> {
  const say = o.say ?? ((l: string) => console.log(l));
  const api: HttpTarget = { base: o.api, token: o.token, timeoutMs: 10_000 };
  const created: string[] = [];
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
  let passed = true;

  const step = async <T>(name: string, fn: () => Promise<[T, string]>): Promise<T> => {
    try {
      const [value, detail] = await fn();
      say(`ok    ${name}: ${detail} [${elapsed()}]`);
      return value;
    } catch (e) {
      say(`FAIL  ${name}: ${(e as Error).message} [${elapsed()}]`);
      throw new StepFailed(name);
    }
  };
  const call = async (method: string, path: string, body?: unknown): Promise<HttpAnswer> =>
    await httpRequest(api, method, path, body);
  const expect = (a: HttpAnswer, ...statuses: number[]) => {
    if (!statuses.includes(a.status)) throw new Error(describeAnswer(a));
    return a.json as Record<string, unknown>;
  };
  const enqueue = async (kind: string, payload: unknown) => {
    const b = expect(
      await call("POST", "/v1/jobs", {
        queue: o.queue,
        kind,
        payload,
        maxAttempts: 1,
        tags: ["sluice-smoke"],
      }),
      201,
    );
    const job = b.job as Job;
    created.push(job.id);
    return job;
  };
  const waitFinished = async (id: string): Promise<Job> => {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const job = expect(await call("GET", `/v1/jobs/${id}`), 200).job as Job;
      if (FINISHED.has(job.state)) return job;
      if (Date.now() > deadline) {
        const why = await call("GET", `/v1/jobs/${id}/explain`).catch(() => null);
        const ex = why?.json as { code?: string; sentence?: string } | null;
        throw new Error(
          `job ${id} still ${job.state} after ${o.timeoutMs / 1000}s` +
            (ex?.code ? ` (${ex.code}: ${ex.sentence})` : ""),
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  try {
    await step("api ready", async () => {
      const a = await httpRequest({ ...api, token: null }, "GET", "/readyz");
      expect(a, 200);
      return [null, `${o.api} (${a.ms} ms)`];
    });
    await step(`queue ${o.queue}`, async () => {
      const got = await call("GET", `/v1/queues/${encodeURIComponent(o.queue)}`);
      if (got.status === 404) {
        expect(await call("POST", "/v1/queues", { name: o.queue }), 201);
        return [null, "created"];
      }
      const q = expect(got, 200).queue as { paused?: boolean; delivery?: { mode?: string } };
      if (q.paused) throw new Error(`queue '${o.queue}' is paused (sluice queue resume)`);
      const mode = q.delivery?.mode ?? "inline";
      if (mode !== "inline") {
        throw new Error(`queue '${o.queue}' delivers by ${mode}; smoke needs an inline queue`);
      }
      return [null, "exists, not paused"];
    });
    const before = await processedTotal(o, api);
    await step("sluice.noop succeeds", async () => {
      const job = await enqueue("sluice.noop", { smoke: true });
      const done = await waitFinished(job.id);
      if (done.state !== "succeeded") {
        throw new Error(`job ${job.id} ended ${done.state} (${done.deadReason ?? "-"})`);
      }
      return [null, `job ${job.id} succeeded`];
    });
    const deadId = await step("sluice.fail dies", async () => {
      const job = await enqueue("sluice.fail", { permanent: true, message: "sluice smoke" });
      const done = await waitFinished(job.id);
      if (done.state !== "dead") throw new Error(`job ${job.id} ended ${done.state}, not dead`);
      return [job.id, `job ${job.id} dead (${done.deadReason})`];
    });
    await step("replay of the dead job", async () => {
      const b = expect(await call("POST", `/v1/jobs/${deadId}/replay`), 201);
      const replay = b.job as Job;
      created.push(replay.id);
      if (replay.retryOf !== deadId) {
        throw new Error(`job ${replay.id} has retryOf ${replay.retryOf}, not ${deadId}`);
      }
      const done = await waitFinished(replay.id);
      if (done.state !== "dead" || done.attempt < 1) {
        throw new Error(
          `replay job ${replay.id} ended ${done.state} after ${done.attempt} attempts`,
        );
      }
      return [null, `job ${replay.id} (retryOf ${deadId}) ran and died again, as expected`];
    });
    await step("metrics moved", async () => {
      const after = await processedTotal(o, api);
      if (after === null) {
        return [null, "skipped: no sluice_jobs_processed_total on the api or given workers"];
      }
      if (after <= (before ?? 0)) {
        throw new Error(
          `sluice_jobs_processed_total stayed at ${after} (pass the workers that ran the jobs ` +
            "with --worker)",
        );
      }
      return [null, `sluice_jobs_processed_total ${before ?? 0} → ${after}`];
    });
  } catch (e) {
    if (!(e instanceof StepFailed)) throw e;
    passed = false;
  } finally {
    passed = await cleanUp(created, call, say).then((ok) => ok && passed, () => false);
  }
  say(passed ? `smoke passed in ${elapsed()}` : `smoke FAILED after ${elapsed()}`);
  return passed;
}

/** Cancels every job the run created that has not finished; true when that worked. */
async function cleanUp(
  ids: string[],
  call: (method: string, path: string) => Promise<HttpAnswer>,
  say: (line: string) => void,
): Promise<boolean> {
  const cancelled: string[] = [];
  const problems: string[] = [];
  for (const id of ids) {
    try {
      const got = await call("GET", `/v1/jobs/${id}`);
      const state = (got.json as { job?: Job } | null)?.job?.state;
      if (got.status !== 200 || state === undefined || FINISHED.has(state)) continue;
      const c = await call("POST", `/v1/jobs/${id}/cancel`);
      // 409: it finished between the two calls, nothing left to do.
      if (c.status === 200 || c.status === 409) cancelled.push(id);
      else problems.push(`job ${id}: ${describeAnswer(c)}`);
    } catch (e) {
      problems.push(`job ${id}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) {
    say(`FAIL  clean up: ${problems.join("; ")}`);
    return false;
  }
  say(
    `ok    clean up: ${
      cancelled.length === 0 ? "nothing left running" : `cancelled ${cancelled.join(", ")}`
    }`,
  );
  return true;
}

/**
 * `sluice_jobs_processed_total` summed over every series of the api's and the given workers'
 * Prometheus text; null when none of them serves the series.
 */
async function processedTotal(o: SmokeOptions, api: HttpTarget): Promise<number | null> {
  const sources: HttpTarget[] = [
    api,
    ...o.workers.map((w) => ({ base: w, token: null, timeoutMs: api.timeoutMs })),
  ];
  let total: number | null = null;
  for (const s of sources) {
    try {
      const a = await httpRequest(s, "GET", "/metrics/prom");
      if (a.status !== 200) continue;
      const n = sumSeries(a.text, "sluice_jobs_processed_total");
      if (n !== null) total = (total ?? 0) + n;
    } catch { /* a source that does not answer contributes nothing */ }
  }
  return total;
}

/**
 * The sum of every sample of one metric name in Prometheus text; null when it has no samples
 * (absent, or only declared: an api process declares the worker families it does not feed).
 */
export function sumSeries(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}
