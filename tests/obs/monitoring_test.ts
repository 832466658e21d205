/**
 * The shipped monitoring (deploy/prometheus/sluice-rules.yaml, deploy/grafana/sluice-dashboard.json)
 * against a real `sluice up` (api + worker + maintenance): every series they name must be one the
 * program exports, and summing every scraped target must count each job once.
 */
import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { generateToken } from "../../src/auth/tokens.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { freePort, startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { parsePrometheus, type PromFamily } from "./_prom_parser.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RULES = `${ROOT}deploy/prometheus/sluice-rules.yaml`;
const DASHBOARD = `${ROOT}deploy/grafana/sluice-dashboard.json`;

/** sluice_* metric families named in a text (a histogram's _bucket/_sum/_count is its family). */
function namedFamilies(text: string): Set<string> {
  const names = text.match(/\bsluice_[a-z0-9_]+/g) ?? [];
  return new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, "")));
}

function total(families: Map<string, PromFamily>, name: string, status: string): number {
  return (families.get(name)?.samples ?? [])
    .filter((s) => s.labels.status === status)
    .reduce((n, s) => n + s.value, 0);
}

Deno.test("shipped Prometheus rules and Grafana dashboard name only exported series; sluice up counts each job once", async (t) => {
  await withTestDatabase(async (db) => {
    const token = generateToken();
    const metricsPort = freePort();
    const up = await startSluice(db, {
      token,
      env: { SLUICE_WORKER_METRICS_ADDR: `127.0.0.1:${metricsPort}` },
    });
    const auth = { authorization: `Bearer ${token}` };
    const scrape = async (url: string, headers: Record<string, string> = {}) => {
      const r = await fetch(url, { headers });
      equal(r.status, 200, url);
      return await r.text();
    };
    try {
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${up.base}/v1/jobs`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ kind: "sluice.noop" }),
        });
        equal(r.status, 201, await r.text());
      }
      await waitFor(async () => {
        const [{ n }] = await db.sql<[{ n: number }]>`
          SELECT count(*)::int AS n FROM sluice.jobs WHERE state = 'succeeded'`;
        return n === 3;
      }, { timeoutMs: 30_000, what: "3 jobs succeeded" });
      const api = parsePrometheus(await scrape(`${up.base}/metrics/prom`, auth));
      const workerText = await scrape(`http://127.0.0.1:${metricsPort}/metrics/prom`);

      await t.step("summing the api and worker targets counts 3 jobs as 3", async () => {
        const worker = parsePrometheus(workerText);
        const sum = [api, worker].reduce(
          (n, f) => n + total(f, "sluice_jobs_processed_total", "succeeded"),
          0,
        );
        equal(sum, 3, workerText);
        equal(worker.size, 0, "the worker port of sluice up exports no series of its own");
        assert(workerText.includes(`${up.base}/metrics/prom`), "it names where they are");
        const hz = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
        equal(hz.status, 200);
        await hz.body?.cancel();
      });

      await t.step("every series the rules and the dashboard name is exported", async () => {
        const rules = await Deno.readTextFile(RULES);
        const dashboard = await Deno.readTextFile(DASHBOARD);
        const board = JSON.parse(dashboard);
        assert(board.panels.length >= 10, "a dashboard with panels");
        for (const p of board.panels) {
          assert(p.targets.length > 0 && p.targets.every((x: { expr: string }) => x.expr), p.title);
        }
        const named = new Set([...namedFamilies(rules), ...namedFamilies(dashboard)]);
        assert(named.size >= 12, [...named].join(", "));
        const missing = [...named].filter((n) => !api.has(n));
        deepStrictEqual(missing, [], "named but not exported");
        // The rules cover what an operator pages on.
        for (
          const alert of [
            "SluiceExporterDown",
            "SluiceHttp5xxRate",
            "SluiceHttpLatencyP95",
            "SluiceAuthFailures",
            "SluiceMigrationFailed",
            "SluiceJobFailureRatio",
            "SluiceStaleHeartbeats",
            "SluiceDlqGrowth",
          ]
        ) assert(rules.includes(`- alert: ${alert}\n`), alert);
        // The migration gauge reads the real schema: nothing pending on a migrated database.
        deepStrictEqual(
          api.get("sluice_migrations_pending")!.samples.map((s) => [s.labels.state, s.value]),
          [["pending", 0], ["checksum_mismatch", 0]],
        );
      });
    } finally {
      await up.stop();
    }
  });
});
