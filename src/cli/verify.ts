import { versionInfo } from "../version.ts";
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
import { printJson, printTable } from "./_output.ts";
import { verifyTelemetryCommand } from "./verify_telemetry.ts";

const HELP = `Usage: sluice verify --api URL [--worker URL]... [--token T | --token-file F]
                     [--timeout 5s] [--watch DURATION [--every 5s]] [--json]
       sluice verify telemetry [--timeout 10s] [--json]   (see sluice verify telemetry --help)

Deployment verification: checks every role of a running deployment over HTTP and that they
all run the same build. Run it after every deploy, before sending traffic.

Checks:
  api     GET /healthz    the process answers (and reports its version)
          GET /readyz     the database answers and no migration is pending
          GET /health     status online or degraded (offline fails); with a read or admin
                          token, the details (database latency, pending migrations,
                          degraded queues)
          GET /v1/queues  with a token: the token is accepted
          GET /           the ops page, and every script and stylesheet it loads
  worker  GET /healthz    on each worker's SLUICE_WORKER_METRICS_ADDR (default port 9464)
  version                 every endpoint reports the same version and commit

Options:
  --api URL           the api role (or sluice up), e.g. http://127.0.0.1:8080
  --worker URL        a worker's metrics address, e.g. http://10.0.0.7:9464; repeatable
  --token T           an API token (any scope); --token-file F reads it from a file
  --timeout DURATION  per request (default 5s)
  --watch DURATION    keep checking for this long (e.g. 15m, a recovery checklist's
                      "stable for 15 minutes"): one progress line per round on stderr,
                      stops at the first failing round (exit 1), exit 0 once the whole
                      duration passed clean
  --every DURATION    pause between rounds with --watch (default 5s)
  --json              {"ok","checks":[{"check","target","ok","detail"}],"failed":[…]}
  -h, --help

Prints a table of the checks. Exit codes: 0 every check passed, 1 some failed (listed on
stderr), 2 usage error.
`;

const FLAGS = {
  api: { type: "string" },
  worker: { type: "string", multiple: true },
  token: { type: "string" },
  "token-file": { type: "string" },
  timeout: { type: "string" },
  watch: { type: "string" },
  every: { type: "string" },
  json: { type: "boolean" },
} as const;

export interface Check {
  check: string;
  target: string;
  ok: boolean;
  detail: string;
}

export interface VerifyOptions {
  api: string;
  workers: string[];
  token: string | null;
  timeoutMs: number;
}

export const verifyCommand: Command = {
  name: "verify",
  summary: "check every role's health, readiness and version agreement (after a deploy)",
  help: HELP,
  async run(args) {
    if (args[0] === "telemetry") return await verifyTelemetryCommand(args.slice(1));
    try {
      const parsed = parseFlags(args, FLAGS, HELP);
      if (!parsed) return EXIT_OK;
      const v = parsed.values;
      if (v.api === undefined) throw new UsageError("--api URL is required");
      const opts: VerifyOptions = {
        api: baseUrlFlag("api", v.api),
        workers: (v.worker ?? []).map((w) => baseUrlFlag("worker", w)),
        token: await tokenFlags(v.token, v["token-file"]),
        timeoutMs: durationFlag("timeout", v.timeout) ?? 5_000,
      };
      const watchMs = durationFlag("watch", v.watch);
      const everyMs = durationFlag("every", v.every) ?? 5_000;
      if (v.every !== undefined && watchMs === undefined) {
        throw new UsageError("--every needs --watch DURATION");
      }
      if (everyMs < 100) throw new UsageError("--every: at least 100ms");
      const checks = watchMs === undefined
        ? await verifyDeployment(opts)
        : await watchDeployment(opts, watchMs, everyMs);
      const failed = checks.filter((c) => !c.ok);
      if (v.json) {
        printJson({ ok: failed.length === 0, checks, failed });
      } else {
        printTable(
          checks.map((c) => ({ ...c, ok: c.ok ? "ok" : "FAIL" })),
          ["check", "target", "ok", "detail"],
        );
      }
      if (failed.length === 0) return EXIT_OK;
      console.error(
        `error: ${failed.length} of ${checks.length} checks failed: ` +
          failed.map((c) => `${c.check} ${c.target} (${c.detail})`).join("; "),
      );
      return EXIT_FAILURE;
    } catch (e) {
      return reportError(e);
    }
  },
};

/**
 * Runs every check each `everyMs` until `watchMs` passed, and answers the last round: the first
 * round with a failure (stopping there), or the last clean one. A round that takes longer than
 * `everyMs` is followed by the next at once, so a slow deployment cannot hide between rounds.
 */
export async function watchDeployment(
  o: VerifyOptions,
  watchMs: number,
  everyMs: number,
  progress: (line: string) => void = (line) => console.error(line),
): Promise<Check[]> {
  const started = performance.now();
  for (let round = 1;; round++) {
    const roundStart = performance.now();
    const checks = await verifyDeployment(o);
    const elapsed = performance.now() - started;
    const failed = checks.filter((c) => !c.ok);
    const at = new Date().toISOString().slice(11, 19);
    if (failed.length > 0) {
      progress(
        `verify: round ${round} at ${at}: ${failed.length} of ${checks.length} checks failed, ` +
          `after ${showSeconds(elapsed)} of ${showSeconds(watchMs)}`,
      );
      return checks;
    }
    if (elapsed >= watchMs) {
      progress(`verify: stable for ${showSeconds(watchMs)} (${round} rounds, every check ok)`);
      return checks;
    }
    progress(
      `verify: round ${round} at ${at}: ${checks.length} checks ok, ` +
        `${showSeconds(elapsed)} of ${showSeconds(watchMs)}`,
    );
    const wait = Math.min(everyMs - (performance.now() - roundStart), watchMs - elapsed);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

function showSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 120 ? `${Math.floor(s / 60)}m${s % 60 === 0 ? "" : `${s % 60}s`}` : `${s}s`;
}

interface Build {
  target: string;
  version: string | null;
  commit: string | null;
}

/** Runs every check; never throws for an unreachable or unhealthy endpoint (that is a row). */
export async function verifyDeployment(o: VerifyOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const builds: Build[] = [];
  const api: HttpTarget = { base: o.api, token: o.token, timeoutMs: o.timeoutMs };
  const anonymous: HttpTarget = { ...api, token: null };

  const probe = async (
    check: string,
    t: HttpTarget,
    path: string,
    judge: (a: HttpAnswer) => string | null,
    okDetail: (a: HttpAnswer) => string,
  ) => {
    const target = `${t.base}${path}`;
    try {
      const a = await httpRequest(t, "GET", path);
      const problem = judge(a);
      checks.push({
        check,
        target,
        ok: problem === null,
        detail: problem ?? `${okDetail(a)} (${a.ms} ms)`,
      });
      return problem === null ? a : null;
    } catch (e) {
      checks.push({ check, target, ok: false, detail: (e as Error).message });
      return null;
    }
  };

  const healthz = (role: string, t: HttpTarget) =>
    probe(`${role} live`, t, "/healthz", statusOk, (a) => {
      const b = a.json as { version?: unknown; commit?: unknown };
      builds.push({
        target: t.base,
        version: typeof b.version === "string" ? b.version : null,
        commit: typeof b.commit === "string" ? b.commit : null,
      });
      return `ok, ${typeof b.version === "string" ? `version ${b.version}` : "no version"}`;
    });

  await healthz("api", anonymous);
  await probe("api ready", anonymous, "/readyz", statusOk, () => "ready");
  await probe("api health", api, "/health", (a) => {
    const p = statusOk(a);
    if (p) return p;
    // Details need a read or admin token; whether the token is accepted at all is the
    // `api token` check below.
    return null;
  }, (a) => healthDetail(a.json));
  if (o.token) {
    await probe(
      "api token",
      api,
      "/v1/queues",
      (a) => a.status === 200 ? null : describeAnswer(a),
      (a) => {
        const n = (a.json as { queues?: unknown[] }).queues?.length;
        return `accepted${n === undefined ? "" : `, ${n} queues`}`;
      },
    );
  }
  const page = await probe("ops page", anonymous, "/", opsPageProblem, () => "served");
  if (page) {
    // The page is only as good as what it loads: a build that lost an embedded asset serves
    // an index whose script 404s, and the browser shows a blank page.
    const paths = pageAssets(page.text);
    const broken: string[] = [];
    for (const path of paths) {
      try {
        const a = await httpRequest(anonymous, "GET", path);
        if (a.status !== 200) broken.push(`${path}: ${describeAnswer(a)}`);
      } catch (e) {
        broken.push(`${path}: ${(e as Error).message}`);
      }
    }
    checks.push({
      check: "ops page assets",
      target: `${o.api}/`,
      ok: broken.length === 0,
      detail: broken.length === 0
        ? `${paths.length} scripts and stylesheets served`
        : `${broken.length} of ${paths.length} not served: ${broken.join(", ")}`,
    });
  }
  for (const w of o.workers) {
    await healthz("worker", { base: w, token: null, timeoutMs: o.timeoutMs });
  }
  checks.push(versionAgreement(builds));
  return checks;
}

function opsPageProblem(a: HttpAnswer): string | null {
  if (a.status !== 200) return describeAnswer(a);
  return /<title>Sluice ops<\/title>/.test(a.text) ? null : "not the Sluice ops page";
}

/** Same-origin scripts and stylesheets the page names (absolute paths or relative ones). */
export function pageAssets(html: string): string[] {
  const refs = [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/g)]
    .map((m) => m[1] ?? "")
    .filter((ref) => ref !== "" && !/^[a-z][a-z0-9+.-]*:|^\/\//i.test(ref));
  return [
    ...new Set(refs.map((ref) => ref.startsWith("/") ? ref : `/${ref.replace(/^\.\//, "")}`)),
  ];
}

function statusOk(a: HttpAnswer): string | null {
  if (a.status !== 200) return describeAnswer(a);
  const status = (a.json as { status?: unknown } | null)?.status;
  // /healthz says ok, /readyz ready, /health online or degraded (shown in the detail, not failed
  // on: an alert or a receiver's outage is not the deployment's fault); offline fails.
  if (!["ok", "ready", "online", "degraded"].includes(status as string)) {
    return `status ${JSON.stringify(status ?? null)}`;
  }
  return null;
}

function healthDetail(body: unknown): string {
  const b = body as {
    database?: { latencyMs?: number | null };
    migrations?: { pending?: unknown[] };
    degradedQueues?: { name: string; reason: string }[];
    openCircuits?: { origin: string }[];
    firingAlerts?: { name: string; subject: string }[];
  };
  const status = (body as { status?: unknown }).status;
  if (!b.database) return `${status} (details need a read or admin token)`;
  const parts = [`database ${b.database.latencyMs ?? "?"} ms`];
  parts.push(`${b.migrations?.pending?.length ?? 0} migrations pending`);
  const degraded = b.degradedQueues ?? [];
  if (degraded.length > 0) {
    parts.push(`degraded: ${degraded.map((q) => `${q.name} (${q.reason})`).join(", ")}`);
  }
  // Shown, not failed on: an alert or a receiver's outage is not the deployment's fault.
  const circuits = b.openCircuits ?? [];
  if (circuits.length > 0) {
    parts.push(`open circuits: ${circuits.map((c) => c.origin).join(", ")}`);
  }
  const alerts = b.firingAlerts ?? [];
  if (alerts.length > 0) {
    parts.push(
      `firing: ${alerts.map((a) => a.subject ? `${a.name}{${a.subject}}` : a.name).join(", ")}`,
    );
  }
  return `${status}, ${parts.join(", ")}`;
}

/** Every endpoint that answered /healthz must report the same version and commit. */
function versionAgreement(builds: Build[]): Check {
  const local = versionInfo();
  const check = "version";
  const target = `${builds.length} endpoints`;
  if (builds.length === 0) {
    return { check, target, ok: false, detail: "no endpoint answered /healthz" };
  }
  const silent = builds.filter((b) => b.version === null);
  if (silent.length > 0) {
    return {
      check,
      target,
      ok: false,
      detail: `no version reported by ${silent.map((b) => b.target).join(", ")} (an old build?)`,
    };
  }
  const show = (b: Build) => `${b.version} (commit ${b.commit ?? "?"})`;
  const distinct = [...new Set(builds.map(show))];
  if (distinct.length > 1) {
    return {
      check,
      target,
      ok: false,
      detail: `builds differ: ${builds.map((b) => `${b.target} runs ${show(b)}`).join(", ")}`,
    };
  }
  const same = distinct[0]!;
  const mine = `${local.version} (commit ${local.commit})`;
  return {
    check,
    target,
    ok: true,
    detail: `all run ${same}${same === mine ? "" : `; this sluice is ${mine}`}`,
  };
}
