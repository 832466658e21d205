import { deepStrictEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { requireConfig } from "../../src/config/load.ts";
import {
  assertDestinationAllowed,
  deniedBy,
  destinationRules,
  hostsFileLookup,
} from "../../src/delivery/destination.ts";
import { isSluiceError } from "../../src/errors.ts";
import { silentLogger } from "../../src/obs/log.ts";
import type { LeasedJob } from "../../src/queue/job.ts";
import { BUILTIN_DEFAULTS, effectivePolicy, type Queue } from "../../src/queue/queues.ts";
import { JobFailure } from "../../src/worker/failure.ts";
import { httpDelivery } from "../../src/worker/http_delivery.ts";
import { startReceiver, Webhook } from "./_receiver.ts";

const WHSEC = "whsec_" + btoa("0123456789abcdef0123456789abcdef");
const RAW = "a-raw-secret-of-enough-length";

function leased(over: Partial<LeasedJob> = {}): LeasedJob {
  const now = new Date();
  return {
    id: "42",
    queue: "hooks",
    kind: "order.paid",
    payload: { order: 7 },
    attempt: 2,
    maxAttempts: 5,
    timeoutMs: null,
    leaseToken: "c2VjcmV0LW9mLWF0dGVtcHQtMg",
    fencingToken: "9001",
    priority: 0,
    tags: [],
    idempotencyKey: null,
    createdAt: now,
    runAt: now,
    leasedAt: now,
    leaseExpiresAt: now,
    traceContext: null,
    ...over,
  };
}

function httpQueue(url: string, timeoutMs?: number): Queue {
  const policy = { delivery: { mode: "http" as const, url, timeoutMs } };
  return {
    name: "hooks",
    paused: false,
    policy,
    effective: effectivePolicy(policy, BUILTIN_DEFAULTS),
    createdAt: "",
    updatedAt: "",
  };
}

const ctx = (job: LeasedJob) => ({
  job,
  signal: new AbortController().signal,
  log: silentLogger,
  parents: () => Promise.resolve([]),
});

async function failureOf(p: Promise<unknown>): Promise<JobFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof JobFailure) return e;
    throw e;
  }
  throw new Error("expected a JobFailure");
}

Deno.test("httpDelivery() signs with every secret and stock standardwebhooks verifies each (rotation)", async () => {
  const r = startReceiver(
    [new Webhook(WHSEC), new Webhook(RAW, { format: "raw" })],
    () => Response.json({ charged: true }),
  );
  try {
    const deliver = httpDelivery({ signingSecrets: [WHSEC, RAW], deny: [] });
    const job = leased({ idempotencyKey: "order-7" });
    const out = await deliver(job, httpQueue(`${r.url}/hook?x=1`), ctx(job));
    deepStrictEqual(out, { status: "succeeded", result: { charged: true } });
    const got = r.received[0]!;
    deepStrictEqual(got.verified, [true, true]);
    equal(got.path, "/hook");
    equal(got.headers["webhook-id"], "job_42");
    equal(got.headers["sluice-job-id"], "42");
    equal(got.headers["sluice-attempt"], "2");
    equal(got.headers["sluice-lease-token"], "c2VjcmV0LW9mLWF0dGVtcHQtMg");
    equal(got.headers["sluice-fencing-token"], "9001");
    equal(got.headers["idempotency-key"], "order-7");
    equal(got.headers["webhook-signature"]!.split(" ").length, 2);
    deepStrictEqual(Object.keys(got.json).sort(), [
      "attempt",
      "createdAt",
      "id",
      "kind",
      "maxAttempts",
      "payload",
      "queue",
    ]);
    deepStrictEqual(got.json.payload, { order: 7 });

    // After rotation only the new secret signs: a receiver holding just the old one refuses.
    const rotated = httpDelivery({ signingSecrets: [RAW], deny: [] });
    await rotated(job, httpQueue(r.url), ctx(job));
    deepStrictEqual(r.received[1]!.verified, [false, true]);
    equal(r.received[1]!.headers["idempotency-key"], "order-7");
  } finally {
    await r.close();
  }
});

Deno.test("httpDelivery() maps every response class to its outcome", async (s) => {
  const date = new Date(Date.now() + 120_000).toUTCString();
  const r = startReceiver([new Webhook(WHSEC)], async ({ path }, req) => {
    switch (path) {
      case "/accepted":
        return new Response(null, { status: 202 });
      case "/empty":
        return new Response(null, { status: 204 });
      case "/big":
        return new Response("x".repeat(100_000));
      case "/gone":
        return new Response("bye", { status: 410 });
      case "/bad":
        return new Response("y".repeat(10_000), { status: 422 });
      case "/err":
        return new Response("boom", { status: 500 });
      case "/busy":
        return new Response(null, { status: 429, headers: { "retry-after": "7" } });
      case "/down":
        return new Response(null, { status: 503, headers: { "retry-after": date } });
      case "/redirect":
        return new Response(null, { status: 302, headers: { location: "http://127.0.0.1/x" } });
      case "/slow":
        await new Promise<void>((res) => {
          const timer = setTimeout(res, 2_000);
          req.signal.addEventListener("abort", () => (clearTimeout(timer), res()));
        });
        return new Response("late");
      default:
        return new Response("?", { status: 404 });
    }
  });
  const deliver = httpDelivery({ signingSecrets: [WHSEC], deny: [] });
  const job = leased();
  const at = (path: string, timeoutMs?: number) =>
    deliver(job, httpQueue(`${r.url}${path}`, timeoutMs), ctx(job));
  try {
    await s.step("202 waits for the callback", async () => {
      deepStrictEqual(await at("/accepted"), { status: "awaiting_callback" });
    });
    await s.step("204 succeeds with a null result", async () => {
      deepStrictEqual(await at("/empty"), { status: "succeeded", result: null });
    });
    await s.step("an oversized 2xx body is capped", async () => {
      const out = await at("/big") as { result: { truncated: boolean } };
      equal(out.result.truncated, true);
    });
    const cases: [string, string, boolean, number | null][] = [
      ["/gone", "HTTP_410", false, null],
      ["/bad", "HTTP_4XX", false, null],
      ["/err", "HTTP_5XX", true, null],
      ["/busy", "HTTP_429", true, 7_000],
      ["/redirect", "HTTP_3XX", false, null],
    ];
    for (const [path, code, retryable, after] of cases) {
      const f = await failureOf(at(path));
      equal(f.code, code, path);
      equal(f.retryable, retryable, path);
      equal(f.retryAfterMs, after, path);
      assert(f.message.length < 2_300, `${path}: message capped (${f.message.length})`);
    }
    await s.step("503 honours an HTTP-date Retry-After", async () => {
      const f = await failureOf(at("/down"));
      equal(f.code, "HTTP_5XX");
      assert(f.retryAfterMs! > 100_000 && f.retryAfterMs! <= 120_000, String(f.retryAfterMs));
    });
    await s.step("a redirect is not followed", () => {
      equal(r.received.filter((x) => x.path === "/x").length, 0);
    });
    await s.step("a slow answer is HTTP_TIMEOUT", async () => {
      const f = await failureOf(at("/slow", 200));
      equal(f.code, "HTTP_TIMEOUT");
      equal(f.retryable, true);
    });
  } finally {
    await r.close();
  }
  await s.step("a refused connection is HTTP_CONNECTION", async () => {
    const f = await failureOf(at("/after-close"));
    equal(f.code, "HTTP_CONNECTION");
    equal(f.retryable, true);
  });
});

Deno.test("httpDelivery() refuses denied destinations at send, permanently", async () => {
  const r = startReceiver([]);
  try {
    const deliver = httpDelivery({ signingSecrets: [WHSEC], deny: ["127.0.0.0/8"] });
    const job = leased();
    const f = await failureOf(deliver(job, httpQueue(r.url), ctx(job)));
    equal(f.code, "DESTINATION_DENIED");
    equal(f.retryable, false);
    equal(r.received.length, 0);
  } finally {
    await r.close();
  }
});

Deno.test("assertDestinationAllowed() checks literals, IPv4-mapped IPv6 and resolved names", async () => {
  const rules = { deny: ["169.254.0.0/16", "fd00:ec2::254/128", "10.0.0.0/8"] };
  const denied = async (url: string, resolve?: (h: string) => Promise<string[]>) =>
    await rejects(
      assertDestinationAllowed(url, rules, resolve),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
    );
  await denied("http://169.254.169.254/latest/meta-data");
  await denied("http://[fd00:ec2::254]/");
  await denied("http://[::ffff:169.254.169.254]/");
  await denied("https://internal.example/", () => Promise.resolve(["8.8.8.8", "10.1.2.3"]));
  await assertDestinationAllowed("http://127.0.0.1:9/", rules);
  await assertDestinationAllowed("https://ok.example/", rules, () => Promise.resolve(["8.8.8.8"]));
  await rejects(
    assertDestinationAllowed("ftp://x.example/", rules),
    (e) => isSluiceError(e, "VALIDATION_FAILED"),
  );
  equal(deniedBy("fe80::1", { deny: ["fe80::/10"] }), "fe80::/10");
  equal(deniedBy("fec0::1", { deny: ["fe80::/10"] }), null);
});

// #14.2: with loopback denied, these all reached 127.0.0.1 services (and their answers became
// readable job results), because the check looked at the spelling, not at what it reaches.
const ISSUE_DENY = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const LOOPBACK_SPELLINGS = [
  "http://0.0.0.0:8080/",
  "http://0:8080/",
  "http://[::]:8080/",
  "http://2130706433/",
  "http://0x7f.1/",
  "http://017700000001/",
  "http://127.1/",
  "http://[::ffff:127.0.0.1]/",
  "http://[::ffff:0.0.0.0]/",
  "http://[::127.0.0.1]/",
  "http://[64:ff9b::127.0.0.1]/",
  "http://[2002:7f00:1::]/",
  "http://localhost:8080/",
  "http://LOCALHOST.:8080/",
  "http://hooks.localhost/",
];

Deno.test("assertDestinationAllowed() denies every spelling of loopback, unspecified included", async () => {
  for (const url of LOOPBACK_SPELLINGS) {
    await rejects(
      assertDestinationAllowed(url, { deny: ISSUE_DENY }, () => Promise.resolve([])),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
      url,
    );
  }
  // Embedded IPv4 forms of private ranges count too.
  for (const address of ["::ffff:10.1.2.3", "64:ff9b::a01:203", "2002:c0a8:101::1"]) {
    assert(deniedBy(address, { deny: ISSUE_DENY }), address);
  }
  equal(deniedBy("2002:808:808::1", { deny: ISSUE_DENY }), null);
  equal(deniedBy("8.8.8.8", { deny: ISSUE_DENY }), null);
});

Deno.test("the default deny list refuses this host; SLUICE_DELIVERY_ALLOW opens it, never metadata", async () => {
  const defaults = destinationRules(requireConfig({}).config);
  for (const url of LOOPBACK_SPELLINGS) {
    await rejects(
      assertDestinationAllowed(url, defaults, () => Promise.resolve([])),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
      url,
    );
  }
  const allowed = destinationRules(
    requireConfig({ SLUICE_DELIVERY_ALLOW: "127.0.0.1/32,0.0.0.0/0,::/0" }).config,
  );
  await assertDestinationAllowed("http://127.0.0.1:9/", allowed);
  await assertDestinationAllowed("http://localhost:9/", allowed);
  for (const url of ["http://169.254.169.254/", "http://[::ffff:169.254.169.254]/"]) {
    await rejects(
      assertDestinationAllowed(url, allowed),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
      url,
    );
  }
  // Only what is allowed: 127.0.0.1/32 does not open the unspecified address or 127.0.0.2.
  const one = destinationRules(requireConfig({ SLUICE_DELIVERY_ALLOW: "127.0.0.1/32" }).config);
  for (const url of ["http://0.0.0.0:9/", "http://127.0.0.2:9/", "http://[::1]:9/"]) {
    await rejects(
      assertDestinationAllowed(url, one),
      (e) => isSluiceError(e, "DESTINATION_DENIED"),
      url,
    );
  }
});

Deno.test("resolveHost() reads /etc/hosts-style entries (a system lookup would)", () => {
  const text = "127.0.0.1 localhost\n10.0.0.7  hooks.internal hooks # build box\n# 1.1.1.1 hooks\n";
  deepStrictEqual(hostsFileLookup(text, "hooks"), ["10.0.0.7"]);
  deepStrictEqual(hostsFileLookup(text, "hooks.internal"), ["10.0.0.7"]);
  deepStrictEqual(hostsFileLookup(text, "other"), []);
});

Deno.test("httpDelivery() refuses loopback reached through the unspecified address (#14.2)", async () => {
  const r = startReceiver([], () => Response.json({ internal: "secret answer" }));
  try {
    const deliver = httpDelivery({ signingSecrets: [WHSEC], deny: ISSUE_DENY });
    const port = new URL(r.url).port;
    for (const url of [`http://0.0.0.0:${port}/`, `http://0:${port}/`, `http://[::]:${port}/`]) {
      const job = leased();
      const f = await failureOf(deliver(job, httpQueue(url), ctx(job)));
      equal(f.code, "DESTINATION_DENIED", url);
      equal(f.retryable, false);
    }
    equal(r.received.length, 0);
  } finally {
    await r.close();
  }
});

Deno.test("httpDelivery() connects to the address it checked, not to a second lookup", async () => {
  // 'rebind.test' exists only in this resolver: fetch resolving the name again (the DNS
  // rebinding window) could not connect at all.
  const r = startReceiver([]);
  try {
    const lookups: string[] = [];
    const deliver = httpDelivery({
      signingSecrets: [WHSEC],
      deny: ["127.0.0.2/32"],
      resolve: (host) => {
        lookups.push(host);
        return Promise.resolve(["127.0.0.1"]);
      },
    });
    const url = `http://rebind.test:${new URL(r.url).port}/hook`;
    for (const id of ["1", "2"]) {
      const job = leased({ id });
      deepStrictEqual(await deliver(job, httpQueue(url), ctx(job)), {
        status: "succeeded",
        result: { ok: true },
      });
    }
    equal(r.received.length, 2);
    equal(r.received[0]!.headers.host, `rebind.test:${new URL(r.url).port}`);
    equal(r.received[0]!.path, "/hook");
    deepStrictEqual(lookups, ["rebind.test"], "one lookup, cached for the second push");
  } finally {
    await r.close();
  }
});

Deno.test("httpDelivery() failure messages carry no userinfo or query values", async () => {
  const r = startReceiver([], () => new Response("boom", { status: 500 }));
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  try {
    const deliver = httpDelivery({ signingSecrets: [WHSEC], deny: [] });
    const port = new URL(r.url).port;
    for (const p of [port, String(closedPort)]) {
      const url = `http://user:hunter2@127.0.0.1:${p}/hook?api_key=sekrit`;
      const job = leased();
      const f = await failureOf(deliver(job, httpQueue(url), ctx(job)));
      assert(f.message.includes(`127.0.0.1:${p}/hook`), f.message);
      assert(!/hunter2|sekrit/.test(f.message), f.message);
    }
  } finally {
    await r.close();
  }
});

Deno.test("httpDelivery() sends a job that waited for parents their results as `parents`", async () => {
  const r = startReceiver([new Webhook(WHSEC)]);
  try {
    const deliver = httpDelivery({ signingSecrets: [WHSEC], deny: [] });
    const parents = [{ id: "7", key: "fetch", state: "succeeded" as const, result: { n: 1 } }];
    const job = leased({ hasParents: true });
    await deliver(job, httpQueue(r.url), { ...ctx(job), parents: () => Promise.resolve(parents) });
    deepStrictEqual(r.received[0]!.json.parents, parents);
    deepStrictEqual(r.received[0]!.verified, [true], "the signature covers the parents too");
  } finally {
    await r.close();
  }
});
