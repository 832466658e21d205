/**
 * A real HTTP receiver on 127.0.0.1 for delivery tests. Every request is verified with the
 * stock `standardwebhooks` package, once per given verifier (proof that receivers can verify
 * Sluice with the library), then answered by `handler`.
 */
import { Webhook } from "standardwebhooks";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  json: Record<string, unknown>;
  /** One entry per verifier: true when that secret's signature verified. */
  verified: boolean[];
}

export interface Receiver {
  url: string;
  received: Received[];
  setHandler(h: (r: Received, req: Request) => Response | Promise<Response>): void;
  close(): Promise<void>;
}

export function startReceiver(
  verifiers: Webhook[],
  handler: (r: Received, req: Request) => Response | Promise<Response> = () =>
    Response.json({ ok: true }),
): Receiver {
  const received: Received[] = [];
  let h = handler;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.text();
    const headers = Object.fromEntries(req.headers);
    const verified = verifiers.map((w) => {
      try {
        w.verify(body, headers);
        return true;
      } catch {
        return false;
      }
    });
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body);
    } catch { /* not JSON */ }
    const r = { path: new URL(req.url).pathname, headers, body, json, verified };
    received.push(r);
    return await h(r, req);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    setHandler: (next) => h = next,
    close: () => server.shutdown(),
  };
}

/**
 * What a receiver sends back: the job named by the push headers, signed with the library
 * (`secret`), with `over` replacing fields of the body.
 */
export function signedCallback(
  got: Pick<Received, "headers">,
  secret: Webhook,
  over: Record<string, unknown> = {},
  at = new Date(),
): { body: string; headers: Record<string, string> } {
  const body = callbackBody(got, { result: { done: true }, ...over });
  const msgId = `cb_${crypto.randomUUID()}`;
  return {
    body,
    headers: {
      "webhook-id": msgId,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": secret.sign(msgId, at, body),
    },
  };
}

export { Webhook };

/** The callback a receiver sends for the push it got: its job, attempt and lease token. */
export function callbackBody(
  got: Pick<Received, "headers">,
  over: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    eventId: crypto.randomUUID(),
    jobId: got.headers["sluice-job-id"],
    attempt: Number(got.headers["sluice-attempt"]),
    leaseToken: got.headers["sluice-lease-token"],
    status: "succeeded",
    ...over,
  });
}
