import { z } from "zod";
import type { Sql } from "../db/connect.ts";
import { httpStatusOf, isSluiceError, SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import { silentLogger } from "../obs/log.ts";
import { applyCallback, type CallbackOutcome } from "../queue/callbacks.ts";
import { isJobId } from "../queue/inspect.ts";
import { isStorableText } from "../queue/json_value.ts";
import { LEASE_TOKEN } from "../queue/outcome.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults } from "../queue/queues.ts";
import { recordCallbackRefusal } from "./callback_refusals.ts";
import { Signer } from "./signature.ts";
import type { Counter } from "../obs/metrics.ts";
import { bearerIn, type CallbackIdentity, verifyCallbackCaller } from "./callback_identity.ts";

/**
 * `POST /v1/callbacks` as a plain function, so the API route mounts it as-is:
 *   app.post("/v1/callbacks", async (c) => {
 *     const r = await handleCallback(deps, await c.req.text(), c.req.raw.headers);
 *     return c.json(r.body, r.status);
 *   });
 * The signature is checked on the raw body before anything is parsed; no bearer token is
 * needed (the signature is the authentication). With `identity` (SLUICE_CALLBACK_OIDC_AUDIENCE)
 * an ID token may prove the caller: mode `either` wants at least one proof and refuses any
 * proof presented that does not verify (a bad credential is never outvoted by a good one);
 * `both` wants both.
 */

export interface CallbackDeps {
  sql: Sql;
  signingSecrets: readonly string[];
  toleranceMs: number;
  defaults?: EngineDefaults;
  log?: Logger;
  /** For tests: the verifier's clock. */
  nowMs?: () => number;
  /** ID tokens as callback proof (src/delivery/callback_identity.ts); null: signature only. */
  identity?: CallbackIdentity | null;
  /** `sluice_id_token_refusals_total{use="callback"}`. */
  idTokenRefusals?: Counter;
}

const digits = z.string().regex(/^[1-9][0-9]{0,18}$/, "a string of digits");

/**
 * The callback body (DESIGN.md "Callbacks"); exported for the OpenAPI document. `leaseToken` is
 * the push's `sluice-lease-token`: the attempt's secret, which binds the callback to it.
 */
export const CallbackBody = z.object({
  eventId: z.string().min(1).max(200).refine(isStorableText, "no U+0000 or unpaired surrogates"),
  jobId: digits.refine(isJobId, "a job id"),
  attempt: z.number().int().min(1).max(2_147_483_647),
  leaseToken: z.string().regex(LEASE_TOKEN, "the sluice-lease-token of the push"),
  status: z.enum(["succeeded", "failed"]),
  result: z.unknown().optional(),
  error: z.object({
    code: z.string().min(1).max(100),
    message: z.string().max(10_000),
    retryable: z.boolean().optional(),
    retryAfter: z.union([z.number().min(0), z.string().max(100)]).optional(),
  }).optional(),
});

export type CallbackResponse =
  | { status: 200; body: { ok: true; job: CallbackOutcome } }
  | {
    status: number;
    body: { error: { code: string; message: string; details: Record<string, unknown> } };
  };

export async function handleCallback(
  deps: CallbackDeps,
  rawBody: string,
  headers: Headers | Record<string, string | undefined>,
): Promise<CallbackResponse> {
  const log = deps.log ?? silentLogger;
  const get = (name: string) =>
    headers instanceof Headers ? headers.get(name) : headers[name] ?? lower(headers, name);
  try {
    await authenticateCallback(deps, rawBody, get, log);
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      throw new SluiceError("MALFORMED_JSON", "the callback body is not valid JSON");
    }
    const parsed = CallbackBody.safeParse(json);
    if (!parsed.success) {
      throw new SluiceError("VALIDATION_FAILED", "the callback body is invalid", {
        issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      });
    }
    const job = await applyCallback(deps.sql, parsed.data, {
      defaults: deps.defaults ?? BUILTIN_DEFAULTS,
    });
    log.info("callback_applied", {
      job_id: job.jobId,
      event_id: parsed.data.eventId,
      status: parsed.data.status,
      state: job.state,
    });
    return { status: 200, body: { ok: true, job } };
  } catch (e) {
    if (!isSluiceError(e)) throw e;
    log.warn("callback_refused", { code: e.code, error: e.message });
    // Counted for callback_failure_ratio; losing the count must not change the answer.
    await recordCallbackRefusal(deps.sql, e.code).catch((err) =>
      log.warn("callback_refusal_not_recorded", { error: err })
    );
    return { status: httpStatusOf(e.code), body: { error: e.toJSON() } };
  }
}

/** Throws unless the callback carries the proofs its configuration asks for, each valid. */
async function authenticateCallback(
  deps: CallbackDeps,
  rawBody: string,
  get: (name: string) => string | null,
  log: Logger,
): Promise<void> {
  const verifySignature = () =>
    new Signer(deps.signingSecrets).verify(
      {
        id: get("webhook-id"),
        timestamp: get("webhook-timestamp"),
        signature: get("webhook-signature"),
      },
      rawBody,
      { toleranceMs: deps.toleranceMs, nowMs: deps.nowMs?.() },
    );
  const ci = deps.identity;
  if (!ci) return verifySignature();
  const bearer = bearerIn(get("authorization"));
  const signed = get("webhook-signature") !== null;
  if (ci.mode === "both" || signed || !bearer) verifySignature();
  if (ci.mode === "both" && !bearer) {
    throw new SluiceError(
      "UNAUTHENTICATED",
      "callbacks need 'Authorization: Bearer <ID token>' as well as the signature (SLUICE_CALLBACK_OIDC_MODE=both)",
    );
  }
  if (!bearer) return;
  try {
    const who = await verifyCallbackCaller(deps.sql, ci, bearer);
    log.debug("callback_identity", { subject: who.subject, email: who.verifiedEmail });
  } catch (e) {
    if (isSluiceError(e)) deps.idTokenRefusals?.inc({ use: "callback", code: e.code });
    throw e;
  }
}

function lower(headers: Record<string, string | undefined>, name: string): string | null {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v ?? null;
  return null;
}
