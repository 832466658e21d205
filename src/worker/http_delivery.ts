import type { ParentResult } from "../queue/dependencies.ts";
import type { CircuitBreaker } from "../delivery/circuit.ts";
import { originOf } from "../delivery/circuit.ts";
import type { Resolve } from "../delivery/destination.ts";
import type { PushTokenMinter } from "../delivery/push_token.ts";
import { createEgress, type Egress } from "../delivery/egress.ts";
import { redactUrlsIn } from "../delivery/redact.ts";
import { retryAfterMs } from "../queue/retry_after.ts";
import { Signer } from "../delivery/signature.ts";
import { isSluiceError } from "../errors.ts";
import type { LeasedJob } from "../queue/job.ts";
import type { Deliver, DeliveryResult } from "./deliver.ts";
import { JobFailure } from "./failure.ts";
import { startPushSpan } from "../delivery/push_trace.ts";
import { failSpan } from "../obs/trace.ts";

/**
 * `http` delivery: POSTs the job to the queue's URL, signed per Standard Webhooks.
 *
 * Decisions:
 * - `webhook-id` is `job_<id>`, the same for every attempt of a job, as the Standard Webhooks
 *   spec asks ("the same when the same webhook is being resent"): a receiver that dedupes on it
 *   gets effectively-once processing on top of our at-least-once. `sluice-attempt` tells the
 *   attempts apart; a replay is a new job, so it has a new id.
 * - Redirects are not followed (3xx fails permanently as `HTTP_3XX`: fix the URL, then replay).
 * - Response bodies are read up to `maxBodyBytes` and the rest is cancelled, so the connection
 *   goes back to fetch's keep-alive pool whenever the body fits; error details keep 2 KB.
 * - Without any signing secret, requests go out unsigned (no `webhook-signature`) and the
 *   worker warns once (`http_unsigned`).
 * - The destination is checked and connected to through `Egress` (src/delivery/egress.ts):
 *   only to addresses that passed the deny list, so DNS cannot change between check and
 *   connection. A denied destination fails the job permanently (`DESTINATION_DENIED`).
 * - Failure messages (job errors, readable by every scope; logs) carry the URL redacted:
 *   origin and path, never userinfo or query values.
 * - A delivery with `oidcAudience` carries `Authorization: Bearer <ID token>` minted for that
 *   audience (src/delivery/push_token.ts); it replaces an `authorization` from the queue's
 *   headers. A token that cannot be minted (no readable signing key) retries as
 *   `PUSH_TOKEN_UNAVAILABLE`: the push is never sent without the proof its receiver expects.
 */

export interface HttpDeliveryOptions {
  signingSecrets: readonly string[];
  /** SLUICE_DELIVERY_DENY and SLUICE_DELIVERY_ALLOW (see src/delivery/destination.ts). */
  deny: readonly string[];
  allow?: readonly string[];
  breaker?: CircuitBreaker | null;
  /** Holder prefix for circuit probes (the worker id). */
  holder?: string;
  /** Request timeout when the queue's delivery sets none; the job's own timeout still applies. */
  defaultTimeoutMs?: number;
  /** Largest 2xx body kept as the job's result (bigger: `{truncated: true}`). */
  maxResultBytes?: number;
  /** Name resolution for the deny check and the connection (tests answer names themselves). */
  resolve?: Resolve;
  /** Where connections come from; by default one built from `deny`, `allow` and `resolve`. */
  egress?: Egress;
  /** Mints the ID tokens of queues with `oidcAudience`; without it such pushes fail (retry). */
  pushTokens?: PushTokenMinter | null;
}

const ERROR_BODY_BYTES = 2_048;

export function httpDelivery(opts: HttpDeliveryOptions): Deliver {
  const signer = new Signer(opts.signingSecrets);
  const egress = opts.egress ?? createEgress({ deny: opts.deny, allow: opts.allow }, {
    resolve: opts.resolve,
  });
  const maxResult = opts.maxResultBytes ?? 65_536;
  const holder = opts.holder ?? "worker";
  let warnedUnsigned = false;
  return async (job, queue, ctx): Promise<DeliveryResult> => {
    const d = queue.effective.delivery;
    if (d.mode !== "http") {
      throw new JobFailure("DELIVERY_MISMATCH", `queue '${queue.name}' is not an http queue`);
    }
    const url = new URL(d.url);
    // Checked before the circuit is asked, so a denied target fails at once and never counts
    // against its circuit (verdicts are cached for 10 s: a check per push costs nothing).
    try {
      await egress.check(url);
    } catch (e) {
      throw permanent(e);
    }
    if (!signer.enabled && !warnedUnsigned) {
      warnedUnsigned = true;
      ctx.log.warn("http_unsigned", {
        hint: "set SLUICE_SIGNING_SECRETS: http pushes go out without webhook-signature",
      });
    }
    const origin = originOf(url);
    const timeoutMs = d.timeoutMs ?? opts.defaultTimeoutMs ?? 30_000;
    let probe: string | null = null;
    if (opts.breaker) {
      const a = await opts.breaker.admit(origin, `${holder}:${job.id}`, timeoutMs + 5_000);
      if (!a.ok) {
        return {
          status: "deferred",
          delayMs: a.delayMs,
          reason: `CIRCUIT_OPEN ${origin} (${a.circuit.state})`,
        };
      }
      probe = a.probe;
    }
    let healthy: boolean | null = null;
    let failureCode: string | null = null;
    try {
      const idToken = d.oidcAudience ? await pushToken(opts.pushTokens, job, d.oidcAudience) : null;
      const parents = job.hasParents ? await ctx.parents() : undefined;
      const result = await send(job, url, d.headers, timeoutMs, ctx.signal, {
        signer,
        maxResult,
        egress,
        idToken,
        parents,
      });
      healthy = true;
      return result;
    } catch (e) {
      if (e instanceof JobFailure && !NEUTRAL.has(e.code)) {
        healthy = !TARGET_FAILURES.has(e.code);
        failureCode = healthy ? null : e.code;
      }
      throw e;
    } finally {
      void opts.breaker?.record(origin, healthy, failureCode, probe);
    }
  };
}

async function pushToken(
  minter: PushTokenMinter | null | undefined,
  job: LeasedJob,
  audience: string,
): Promise<string> {
  if (!minter) {
    throw new JobFailure("PUSH_TOKEN_UNAVAILABLE", "this worker cannot mint push ID tokens");
  }
  try {
    return await minter.mint({ audience, queue: job.queue });
  } catch (e) {
    throw new JobFailure(
      "PUSH_TOKEN_UNAVAILABLE",
      `the push ID token could not be minted: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** A SluiceError from the destination check as the job's permanent failure. */
function permanent(e: unknown): unknown {
  return isSluiceError(e) ? new JobFailure(e.code, e.message, { retryable: false }) : e;
}

/** Failures that say the target is unwell (they feed its circuit); TIMEOUT is the job's own. */
const TARGET_FAILURES = new Set(["HTTP_5XX", "HTTP_CONNECTION", "HTTP_TIMEOUT", "TIMEOUT"]);
/** Aborts that say nothing about the target. */
const NEUTRAL = new Set(["STALE_LEASE", "SHUTDOWN", "CANCELLED"]);

/**
 * The request body: what a receiver needs to run the job, nothing about our internals; a job
 * that waited for parents also gets their states and results (`parents`, as the pull lease).
 */
export function pushBody(job: LeasedJob, parents?: ParentResult[]): string {
  return JSON.stringify({
    id: job.id,
    queue: job.queue,
    kind: job.kind,
    payload: job.payload,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    createdAt: job.createdAt.toISOString(),
    ...(parents ? { parents } : {}),
  });
}

async function send(
  job: LeasedJob,
  url: URL,
  extra: Record<string, string> | undefined,
  timeoutMs: number,
  jobSignal: AbortSignal,
  { signer, maxResult, egress, idToken, parents }: {
    signer: Signer;
    maxResult: number;
    egress: Egress;
    idToken: string | null;
    parents?: ParentResult[];
  },
): Promise<DeliveryResult> {
  const body = pushBody(job, parents);
  const id = `job_${job.id}`;
  const ts = Math.floor(Date.now() / 1000);
  const headers = new Headers(extra ?? {});
  headers.set("content-type", "application/json");
  headers.set("user-agent", "sluice");
  headers.set("webhook-id", id);
  headers.set("webhook-timestamp", String(ts));
  if (signer.enabled) headers.set("webhook-signature", signer.sign(id, ts, body));
  headers.set("sluice-job-id", job.id);
  headers.set("sluice-attempt", String(job.attempt));
  // The attempt's secret: the callback credential of this push, and only of it (a receiver
  // answering 202 sends it back as the callback's leaseToken). The fencing number is not secret;
  // it grows with every lease, for receivers that order attempts.
  headers.set("sluice-lease-token", job.leaseToken);
  headers.set("sluice-fencing-token", job.fencingToken);
  headers.set("idempotency-key", job.idempotencyKey ?? job.id);
  if (idToken) headers.set("authorization", `Bearer ${idToken}`);
  // One controller and one timer: AbortSignal.any + AbortSignal.timeout cost ~100 µs a push.
  const controller = new AbortController();
  const timeout = { aborted: false };
  const timer = setTimeout(() => {
    timeout.aborted = true;
    controller.abort();
  }, timeoutMs);
  const onJobAbort = () => controller.abort(jobSignal.reason);
  if (jobSignal.aborted) onJobAbort();
  else jobSignal.addEventListener("abort", onJobAbort, { once: true });
  const where = `${url.origin}${url.pathname}`;
  const span = startPushSpan(url, headers);
  let res: Response;
  let text: string;
  try {
    res = await egress.fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: controller.signal,
    });
    text = await readCapped(res, res.ok ? maxResult : ERROR_BODY_BYTES);
  } catch (e) {
    const failure = requestError(e, jobSignal, timeout, where, timeoutMs);
    if (span) {
      failSpan(span, failure instanceof JobFailure ? failure.code : "HTTP_CONNECTION");
      span.end();
    }
    throw failure;
  } finally {
    clearTimeout(timer);
    jobSignal.removeEventListener("abort", onJobAbort);
  }
  const s = res.status;
  if (span) {
    span.setAttribute("http.response.status_code", s);
    if (s >= 400) failSpan(span, String(s));
    span.end();
  }
  if (s === 202) return { status: "awaiting_callback" };
  if (s >= 200 && s < 300) return { status: "succeeded", result: parseResult(text, maxResult) };
  const detail = `POST ${where} answered ${s}${text ? `: ${text.slice(0, ERROR_BODY_BYTES)}` : ""}`;
  if (s >= 300 && s < 400) {
    throw new JobFailure(
      "HTTP_3XX",
      `${detail} (redirect to '${res.headers.get("location") ?? "?"}' not followed)`,
      { retryable: false },
    );
  }
  if (s === 429 || s === 503) {
    throw new JobFailure(s === 429 ? "HTTP_429" : "HTTP_5XX", detail, {
      retryAfterMs: retryAfterMs(res.headers.get("retry-after")),
    });
  }
  if (s === 410) throw new JobFailure("HTTP_410", detail, { retryable: false });
  if (s >= 400 && s < 500) throw new JobFailure("HTTP_4XX", detail, { retryable: false });
  throw new JobFailure("HTTP_5XX", detail);
}

function requestError(
  e: unknown,
  jobSignal: AbortSignal,
  timeout: { aborted: boolean },
  where: string,
  timeoutMs: number,
): unknown {
  // The worker aborted the attempt (its timeout, lost lease, shutdown): its reason stands.
  if (jobSignal.aborted) return jobSignal.reason;
  // The address changed to a denied one since the check above (its cache expired meanwhile).
  if (isSluiceError(e)) return permanent(e);
  if (timeout.aborted) {
    return new JobFailure("HTTP_TIMEOUT", `POST ${where} did not answer within ${timeoutMs} ms`);
  }
  // fetch's messages quote the whole URL ("error sending request for url (https://u:p@…?key=…)").
  const message = redactUrlsIn(e instanceof Error ? e.message : String(e));
  return new JobFailure("HTTP_CONNECTION", `POST ${where} failed: ${message.slice(0, 500)}`);
}

/** Reads at most `max` bytes of the body; the rest is cancelled (the connection then closes). */
async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(size > max ? all.subarray(0, max + 1) : all);
}

function parseResult(text: string, max: number): unknown {
  if (text === "") return null;
  if (text.length > max) return { truncated: true, bodyPrefix: text.slice(0, ERROR_BODY_BYTES) };
  try {
    return JSON.parse(text);
  } catch {
    return { body: text.slice(0, ERROR_BODY_BYTES) };
  }
}
