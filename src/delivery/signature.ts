import { createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { SluiceError } from "../errors.ts";

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">`, space-separated, one per secret. Signing with every configured secret
 * lets operators rotate without downtime: add the new secret first (receivers accept either),
 * update receivers, then drop the old one. Verification accepts any configured secret.
 *
 * Secrets are `whsec_<base64>` (the key is the decoded bytes, as every Standard Webhooks library
 * does) or raw text (the key is the text itself; stock libraries verify those with
 * `new Webhook(secret, { format: "raw" })`).
 */

export function secretKey(secret: string): Buffer {
  return secret.startsWith("whsec_")
    ? Buffer.from(secret.slice("whsec_".length), "base64")
    : Buffer.from(secret, "utf8");
}

/** Keys decoded once: signing is on the push hot path. */
export class Signer {
  readonly #keys: Buffer[];
  constructor(secrets: readonly string[]) {
    this.#keys = secrets.map(secretKey);
  }

  get enabled(): boolean {
    return this.#keys.length > 0;
  }

  /** The `webhook-signature` header value; empty when no secret is configured. */
  sign(id: string, timestampSeconds: number, body: string): string {
    return this.#keys.map((k) => `v1,${hmac(k, id, timestampSeconds, body)}`).join(" ");
  }

  /**
   * Throws TIMESTAMP_OUT_OF_TOLERANCE or SIGNATURE_INVALID; returns when one `v1` signature
   * matches one key. Comparisons are constant-time.
   */
  verify(
    headers: { id?: string | null; timestamp?: string | null; signature?: string | null },
    body: string,
    { toleranceMs, nowMs = Date.now() }: { toleranceMs: number; nowMs?: number },
  ): void {
    const { id, timestamp, signature } = headers;
    if (!id || !timestamp || !signature) {
      throw new SluiceError(
        "SIGNATURE_INVALID",
        "the request lacks webhook-id, webhook-timestamp or webhook-signature",
      );
    }
    if (this.#keys.length === 0) {
      throw new SluiceError(
        "SIGNATURE_INVALID",
        "no signing secret is configured (set SLUICE_SIGNING_SECRETS)",
      );
    }
    const ts = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
    if (!Number.isFinite(ts)) {
      throw new SluiceError(
        "SIGNATURE_INVALID",
        `webhook-timestamp '${timestamp}' is not a number`,
      );
    }
    const skewMs = ts * 1000 - nowMs;
    if (Math.abs(skewMs) > toleranceMs) {
      throw new SluiceError(
        "TIMESTAMP_OUT_OF_TOLERANCE",
        `webhook-timestamp is ${Math.round(Math.abs(skewMs) / 1000)} s ${
          skewMs < 0 ? "old" : "in the future"
        }; the tolerance is ${Math.round(toleranceMs / 1000)} s`,
        { skewSeconds: Math.round(skewMs / 1000), toleranceSeconds: toleranceMs / 1000 },
      );
    }
    const given = signature.split(" ").flatMap((s) => {
      const [version, value] = s.split(",");
      return version === "v1" && value ? [Buffer.from(value)] : [];
    });
    for (const key of this.#keys) {
      const expected = Buffer.from(hmac(key, id, ts, body));
      for (const g of given) {
        if (g.length === expected.length && timingSafeEqual(g, expected)) return;
      }
    }
    throw new SluiceError("SIGNATURE_INVALID", "no webhook-signature matches a configured secret");
  }
}

function hmac(key: Buffer, id: string, ts: number, body: string): string {
  return createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
}
