import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { Signer } from "../../src/delivery/signature.ts";
import { alertThresholds, evaluateAlerts } from "../../src/maintenance/alerts.ts";
import { awaitCallback } from "../../src/queue/callbacks.ts";
import { type TestApi, withTestApi } from "./_app.ts";

const SECRET = "whsec_" + btoa("integ-callback-secret-0123456789");

/** A signed callback request for a leased job, as a receiver would send it. */
function signedCallback(
  api: TestApi,
  body: Record<string, unknown>,
  { secret = SECRET, at = Date.now() } = {},
) {
  const text = JSON.stringify(body);
  const id = `msg_${crypto.randomUUID()}`;
  const ts = Math.floor(at / 1000);
  return api.app.request("/v1/callbacks", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(ts),
      "webhook-signature": new Signer([secret]).sign(id, ts, text),
      // A cross-site browser would send this; signed callbacks need no CSRF check.
      origin: "https://elsewhere.example",
    },
    body: text,
  });
}

Deno.test("ops views, schedules, circuits and signed callbacks over HTTP", async (t) => {
  // A receiver on this host (127.0.0.1:9) is opted in, as an operator would (denied by default).
  await withTestApi(async (api) => {
    await t.step(
      "GET /v1/ops/queues: status, reasons and per-queue facts for read tokens",
      async () => {
        equal((await api.call("POST", "/v1/jobs", { body: { kind: "a" } })).status, 201);
        equal((await api.call("GET", "/v1/ops/queues", { as: "producer" })).status, 403);
        const r = await api.call("GET", "/v1/ops/queues", { as: "read" });
        equal(r.status, 200);
        equal(r.body.status, "offline");
        assert(r.body.reasons.includes("no worker is online"), r.body.reasons.join("; "));
        const q = r.body.queues.find((x: { name: string }) => x.name === "default");
        equal(q.counts.available, 1);
        assert(q.oldestWaitingSeconds >= 0);
        equal(typeof q.policy.backoff.base, "string", "the API's policy shape (durations as text)");
        deepStrictEqual(r.body.signing, { configured: true, count: 1 });
      },
    );

    await t.step("GET /v1/ops/alerts lists firing alerts", async () => {
      await api.db.sql`
        INSERT INTO sluice.alerts (name, subject, state, value, threshold, fired_at, evaluated_at)
        VALUES ('dlq_growth', 'default', 'firing', 3, 1, now(), now())`;
      const r = await api.call("GET", "/v1/ops/alerts", { as: "read" });
      equal(r.status, 200);
      deepStrictEqual(r.body.firing.map((a: { name: string }) => a.name), ["dlq_growth"]);
      deepStrictEqual(r.body.pending, []);
    });

    await t.step("/v1/schedules: admin writes, read reads", async () => {
      const body = { name: "nightly", cron: "0 3 * * *", timezone: "Europe/Berlin", kind: "r" };
      equal((await api.call("POST", "/v1/schedules", { as: "read", body })).status, 403);
      const c = await api.call("POST", "/v1/schedules", { body });
      equal(c.status, 201, JSON.stringify(c.body));
      equal(c.body.schedule.timezone, "Europe/Berlin");
      equal(c.body.schedule.queue, "default");
      equal(c.body.schedule.missed, "skip");
      assert(Date.parse(c.body.schedule.nextSlot) > Date.now());
      equal((await api.call("POST", "/v1/schedules", { body })).body.error.code, "CONFLICT");
      equal(
        (await api.call("POST", "/v1/schedules", { body: { ...body, name: "x", cron: "nope" } }))
          .body.error.code,
        "VALIDATION_FAILED",
      );
      equal(
        (await api.call("POST", "/v1/schedules", {
          body: { ...body, name: "y", queue: "missing" },
        })).body.error.code,
        "QUEUE_NOT_FOUND",
      );
      const list = await api.call("GET", "/v1/schedules", { as: "read" });
      deepStrictEqual(list.body.schedules.map((s: { name: string }) => s.name), ["nightly"]);
      equal((await api.call("POST", "/v1/schedules/nightly/pause", { as: "read" })).status, 403);
      equal((await api.call("POST", "/v1/schedules/nightly/pause")).body.schedule.paused, true);
      equal(
        (await api.call("GET", "/v1/schedules/nightly", { as: "read" })).body.schedule.paused,
        true,
      );
      equal((await api.call("POST", "/v1/schedules/nightly/resume")).body.schedule.paused, false);
      deepStrictEqual((await api.call("DELETE", "/v1/schedules/nightly")).body, {
        deleted: "nightly",
      });
      equal(
        (await api.call("GET", "/v1/schedules/nightly")).body.error.code,
        "SCHEDULE_NOT_FOUND",
      );
    });

    await t.step("http delivery: admin only, denied destinations refused at save", async () => {
      const q = (url: string) => ({ name: "hooks", delivery: { mode: "http", url } });
      equal(
        (await api.call("POST", "/v1/queues", { as: "producer", body: q("http://127.0.0.1:9/") }))
          .status,
        403,
      );
      const denied = await api.call("POST", "/v1/queues", {
        body: q("http://169.254.169.254/latest/meta-data"),
      });
      equal(denied.status, 400);
      equal(denied.body.error.code, "DESTINATION_DENIED");
      // The unspecified address reaches loopback too, and allowing 127.0.0.1 does not open it.
      for (const url of ["http://0.0.0.0:9/", "http://[::]:9/", "http://127.0.0.2:9/"]) {
        const r = await api.call("POST", "/v1/queues", { body: q(url) });
        equal(r.body.error?.code, "DESTINATION_DENIED", url);
      }
      equal((await api.call("POST", "/v1/queues", { body: q("http://127.0.0.1:9/") })).status, 201);
      const patch = await api.call("PATCH", "/v1/queues/hooks", {
        body: { delivery: { mode: "http", url: "http://[fd00:ec2::254]/" } },
      });
      equal(patch.body.error.code, "DESTINATION_DENIED");
    });

    await t.step("GET /v1/circuits and /health details show an open circuit", async () => {
      await api.db.sql`
        INSERT INTO sluice.circuits (origin, state, consecutive_failures, opened_at, open_until)
        VALUES ('http://127.0.0.1:9', 'open', 5, now(), now() + interval '30 seconds')`;
      equal((await api.call("GET", "/v1/circuits", { as: null })).status, 401);
      const r = await api.call("GET", "/v1/circuits", { as: "read" });
      equal(r.status, 200);
      equal(r.body.circuits[0].origin, "http://127.0.0.1:9");
      equal(r.body.circuits[0].state, "open");
      const h = await api.call("GET", "/health", { as: "read" });
      equal(h.status, 200);
      deepStrictEqual(h.body.openCircuits.map((c: { origin: string }) => c.origin), [
        "http://127.0.0.1:9",
      ]);
      assert(
        h.body.degradedQueues.some((q: { name: string; reason: string }) =>
          q.name === "hooks" && q.reason.startsWith("circuit open")
        ),
        JSON.stringify(h.body.degradedQueues),
      );
      deepStrictEqual(h.body.firingAlerts.map((a: { name: string }) => a.name), ["dlq_growth"]);
      equal(h.body.signing.configured, true);
      equal(h.body.signing.warning, null);
      assert(typeof h.body.tableHealth.deadTupleRatio === "number");
      deepStrictEqual(h.body.tableHealth.warnings, []);
      // Anonymous callers still get the bare status.
      deepStrictEqual((await api.call("GET", "/health", { as: null })).body, {
        status: "offline",
      });
    });

    await t.step(
      "POST /v1/callbacks: the signature authenticates, not a bearer token",
      async () => {
        equal(
          (await api.call("POST", "/v1/queues", {
            body: { name: "ext", delivery: { mode: "pull" } },
          }))
            .status,
          201,
        );
        equal(
          (await api.call("POST", "/v1/jobs", { body: { queue: "ext", kind: "a" } })).status,
          201,
        );
        const l = await api.call("POST", "/v1/queues/ext/lease", {
          as: "worker",
          body: { max: 1 },
        });
        const j = l.body.jobs[0];
        // Callbacks apply only to an attempt waiting for one: what a worker records when its
        // http receiver answers 202.
        assert(await awaitCallback(api.db.sql, j, 60_000));
        const body = {
          eventId: "evt-1",
          jobId: j.id,
          attempt: j.attempt,
          leaseToken: j.leaseToken,
          status: "succeeded",
          result: { ok: 1 },
        };
        const forged = await signedCallback(api, body, {
          secret: "whsec_" + btoa("another-secret-entirely-0123456"),
        });
        equal(forged.status, 401);
        equal((await forged.json()).error.code, "SIGNATURE_INVALID");
        const old = await signedCallback(api, body, { at: Date.now() - 3_600_000 });
        equal((await old.json()).error.code, "TIMESTAMP_OUT_OF_TOLERANCE");
        const ok = await signedCallback(api, body);
        equal(ok.status, 200, await ok.clone().text());
        equal((await ok.json()).ok, true);
        equal((await api.call("GET", `/v1/jobs/${j.id}`)).body.job.state, "succeeded");
        const again = await signedCallback(api, body);
        equal(again.status, 409);
        equal((await again.json()).error.code, "CALLBACK_REPLAYED");
        // A bearer token is no substitute for the signature.
        const unsigned = await api.call("POST", "/v1/callbacks", {
          body: { ...body, eventId: "e2" },
        });
        equal(unsigned.status, 401);
        equal(unsigned.body.error.code, "SIGNATURE_INVALID");
        // Malformed JSON is only looked at once the signature holds.
        const bad = await api.app.request("/v1/callbacks", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{not json",
        });
        equal((await bad.json()).error.code, "SIGNATURE_INVALID");
        // Refusals count toward callback_failure_ratio (the runbook's promise), accepted ones too.
        await evaluateAlerts(api.db.sql, alertThresholds(api.ctx.config));
        const [a] = await api.db.sql<{ value: number; details: Record<string, number> }[]>`
          SELECT value, details FROM sluice.alerts WHERE name = 'callback_failure_ratio'`;
        equal(a!.details.refused, 5, JSON.stringify(a));
        equal(a!.details.total, 6);
        equal(a!.value, 5 / 6);
      },
    );
  }, { SLUICE_SIGNING_SECRETS: SECRET, SLUICE_DELIVERY_ALLOW: "127.0.0.1/32" });
});

Deno.test("GET /v1/queues counts cheaply and reports the oldest waiting job", async () => {
  await withTestApi(async (api) => {
    await api.call("POST", "/v1/jobs", { body: { kind: "a" } });
    await api.call("POST", "/v1/jobs", { body: { kind: "a", delay: "1h" } });
    await api.db.sql`UPDATE sluice.jobs SET run_at = now() - interval '90 seconds'
      WHERE state = 'available'`;
    const r = await api.call("GET", "/v1/queues", { as: "read" });
    const q = r.body.queues.find((x: { name: string }) => x.name === "default");
    equal(q.counts.available, 1);
    equal(q.counts.scheduled, 1);
    assert(q.oldestWaitingMs >= 89_000 && q.oldestWaitingMs < 600_000, String(q.oldestWaitingMs));
    const at = Date.parse(q.oldestWaitingAt);
    assert(Math.abs(Date.now() - q.oldestWaitingMs - at) < 60_000);
    assert("finishedCountedAt" in r.body);
  });
});
