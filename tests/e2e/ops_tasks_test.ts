/// <reference lib="dom" />
/**
 * Operator tasks of issue #19 done in a real browser at 1440×900 and 390×844, each checked
 * through the API afterwards: job search (payload, kind prefix, a misspelt queue), tokens
 * (create, secret once, revoke), OIDC identities (grant, revoke), bulk cancel on a filter
 * bigger than a page, dead letters past 100 with select-all, replayed marks and discard, run
 * now (job and schedule), quiet a worker, exporter health and depth history on the overview.
 * Screenshots land in test-output/screenshots/ops-*.
 */
import { equal, match, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { withTestDatabase } from "../_helpers/db.ts";
import { isolatedEnv, launchBrowser, startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { OtlpReceiver } from "../telemetry/_otlp_receiver.ts";
import { client, confirm, shot, SHOTS, signIn, SIZES } from "./_ops_page.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ADMIN = `sluice_${"e2eTasksAdmin".padEnd(40, "t")}`;

/** Rows of the jobs table on screen, by job id. */
const shownIds = (page: Page) =>
  page.$$eval("table[data-table=jobs] tbody tr", (trs) => trs.map((tr) => tr.dataset.job ?? ""));

/** A `sluice worker` process of its own, so quieting it leaves the test's `up` alone. */
function startWorker(dbUrl: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "worker", "--queues", "quiet"],
    cwd: ROOT,
    env: isolatedEnv({
      DATABASE_URL: dbUrl,
      // The quiet request is read on a heartbeat, a third of the lease.
      SLUICE_LEASE: "1500ms",
      SLUICE_WORKER_METRICS_ADDR: "off",
      SLUICE_LOG_LEVEL: "warn",
    }),
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  return child;
}

Deno.test("operator tasks in the browser at both sizes", async (t) => {
  await Deno.mkdir(SHOTS, { recursive: true });
  await withTestDatabase(async (db) => {
    // Its worker serves `default` only: the queue `quiet` belongs to the worker the test quiets.
    // A live collector, so the overview has exporter health to show (and a refusal to count).
    const otlp = new OtlpReceiver();
    const sluice = await startSluice(db, {
      token: ADMIN,
      env: {
        SLUICE_QUEUES: "default",
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_METRIC_EXPORT_INTERVAL: "500",
      },
    });
    const browser = await launchBrowser();
    const admin = client(sluice.base, ADMIN);
    const workers: Deno.ChildProcess[] = [];
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      await signIn(page, sluice.base, ADMIN, "bootstrap · admin");

      for (const [size, viewport] of SIZES) {
        await page.setViewportSize(viewport);

        await t.step(
          `${size}: find jobs by payload and kind prefix; a misspelt queue`,
          async () => {
            const q = `search-${size}`;
            equal((await admin("POST", "/v1/queues", { name: q })).status, 201);
            equal((await admin("POST", `/v1/queues/${q}/pause`)).status, 200);
            const ids: string[] = [];
            for (
              const [kind, id] of [["report.render", 42], ["report.mail", 7], ["invoice.send", 42]]
            ) {
              const r = await admin("POST", "/v1/jobs", {
                queue: q,
                kind,
                payload: { customer: { id } },
              });
              ids.push(r.body.job.id);
            }
            await page.goto(`${sluice.base}/#/jobs`);
            await page.fill("#f-queue", q);
            await page.fill("#f-payload", "customer.id=42");
            await page.fill("#f-kindPrefix", "report.");
            await page.click("form.filters button[type=submit]");
            await page.waitForSelector("[data-section=results] h2[data-count='1']");
            equal((await shownIds(page)).join(), ids[0]);
            await shot(page, `ops-search-${size}`);
            await page.fill("#f-kindPrefix", "");
            await page.click("form.filters button[type=submit]");
            await page.waitForSelector("[data-section=results] h2[data-count='2']");
            equal((await shownIds(page)).sort().join(), [ids[0], ids[2]].sort().join());
            await page.goto(`${sluice.base}/#/jobs?queue=${q}x`);
            const err = await page.waitForSelector("[data-section=results] .banner.bad");
            match((await err.innerText()) ?? "", /QUEUE_NOT_FOUND.*does not exist/);
            equal(await page.isHidden("#banner"), true, "not shown as an outage");
            await shot(page, `ops-search-unknown-queue-${size}`);
          },
        );

        await t.step(`${size}: create a token (secret shown once), then revoke it`, async () => {
          const name = `ci-${size}`;
          await page.goto(`${sluice.base}/#/tokens`);
          await page.fill("#tk-name", name);
          await page.selectOption("#tk-scope", "producer");
          await page.click("button:text-is('Create token')");
          const secret = (await (await page.waitForSelector("[data-secret-value]")).innerText())
            .trim();
          match(secret, /^sluice_\w{32}$/);
          await shot(page, `ops-token-created-${size}`);
          const used = client(sluice.base, secret);
          equal((await used("GET", "/v1/jobs?limit=1")).status, 200);
          const row = `tr[data-token="${name}"]`;
          await page.waitForSelector(row);
          await page.click(`${row} button:text-is('Revoke')`);
          await confirm(page);
          await page.waitForSelector(`${row} .chip:text-is('revoked')`, { timeout: 10_000 });
          equal((await used("GET", "/v1/jobs?limit=1")).status, 401);
          // The secret is nowhere on the page once the view is rendered again.
          await page.goto(`${sluice.base}/#/overview`);
          await page.goto(`${sluice.base}/#/tokens`);
          await page.waitForSelector(row);
          equal((await page.content()).includes(secret), false);
          await shot(page, `ops-tokens-${size}`);
        });

        await t.step(`${size}: grant an OIDC identity a scope, then revoke it`, async () => {
          const subject = `repo:acme/app:ref:refs/heads/${size}`;
          await page.goto(`${sluice.base}/#/tokens`);
          await page.fill("#id-issuer", "https://token.actions.githubusercontent.com");
          await page.selectOption("#id-match", "subject");
          await page.fill("#id-value", subject);
          await page.selectOption("#id-scope", "producer");
          await page.click("button:text-is('Grant identity')");
          const row = `tr[data-identity="${subject}"]`;
          await page.waitForSelector(`${row} .chip:text-is('active')`);
          const granted = (await admin("GET", "/v1/identities")).body.identities
            .find((i: { subject: string }) => i.subject === subject);
          equal(granted?.scope, "producer");
          await shot(page, `ops-identities-${size}`);
          await page.click(`${row} button:text-is('Revoke')`);
          await confirm(page);
          await page.waitForSelector(`${row} .chip:text-is('revoked')`, { timeout: 10_000 });
          const after = (await admin("GET", "/v1/identities")).body.identities
            .find((i: { subject: string }) => i.subject === subject);
          assert(after?.revokedAt, "revoked in the API");
        });

        await t.step(
          `${size}: cancel every job a search matches, past the first page`,
          async () => {
            const q = `bulk-${size}`;
            equal((await admin("POST", "/v1/queues", { name: q })).status, 201);
            equal((await admin("POST", `/v1/queues/${q}/pause`)).status, 200);
            const jobs = Array.from({ length: 120 }, (_, i) => ({ queue: q, kind: `k.${i % 2}` }));
            equal((await admin("POST", "/v1/jobs/batch", { jobs })).status, 201);
            await page.goto(`${sluice.base}/#/jobs?queue=${q}`);
            await page.waitForSelector("[data-section=results] h2[data-count='120']");
            equal((await shownIds(page)).length, 50, "one page on screen");
            await page.click("button[data-action=bulk-cancel]");
            await page.waitForSelector("dialog#confirm[open]");
            equal(await page.textContent("#confirm-title"), "Cancel 120 jobs?");
            match(
              (await page.textContent("#confirm-body")) ?? "",
              /120 unfinished jobs match queue/,
            );
            await shot(page, `ops-bulk-confirm-${size}`);
            await page.click("#confirm-ok");
            await page.waitForSelector(".toast:has-text('Cancelled 120 jobs')");
            const left = await admin("GET", `/v1/jobs/count?queue=${q}&state=cancelled`);
            equal(left.body.count, 120);
          },
        );

        await t.step(
          `${size}: dead letters past 100, select all, replayed marks, discard`,
          async () => {
            const q = `dead-${size}`;
            equal((await admin("POST", "/v1/queues", { name: q })).status, 201);
            equal((await admin("POST", `/v1/queues/${q}/pause`)).status, 200);
            const jobs = Array.from({ length: 130 }, () => ({ queue: q, kind: "sluice.noop" }));
            equal((await admin("POST", "/v1/jobs/batch", { jobs })).status, 201);
            // Dead without waiting for 130 failures: the scene, not what is tested.
            await db.sql`
          UPDATE sluice.jobs SET state = 'dead', finished_at = now(), dead_reason = 'DEAD_FAILED'
          WHERE queue = ${q}`;
            await page.goto(`${sluice.base}/#/dlq?queue=${q}`);
            await page.waitForSelector("[data-section=list] h2[data-total='130']");
            // The group's button counts the jobs a replay by filter would pick: none once done.
            const group = `tr[data-group="${q}/DEAD_FAILED"]`;
            await page.waitForSelector(`${group} button:text-is('Replay all 130')`);
            equal((await shownIds(page)).length, 100);
            await page.click("[data-section=list] a[data-next]");
            await page.waitForFunction(() =>
              document.querySelectorAll("table[data-table=jobs] tbody tr").length === 30
            );
            await page.check("input[data-action=select-all-matching]");
            await page.click("button[data-action=replay-selected]");
            await page.waitForSelector("dialog#confirm[open]");
            equal(await page.textContent("#confirm-title"), "Replay all 130 jobs matching?");
            await page.click("#confirm-ok");
            const toast = await page.waitForSelector(".toast:has-text('Replayed 130 jobs')");
            const link = await toast.$("a[data-job-link]");
            assert(link, "the toast links to the new jobs");
            await page.waitForSelector("[data-replayed-as]", { timeout: 10_000 });
            await page.waitForSelector(`${group}[data-unreplayed='0']`, { timeout: 10_000 });
            equal(await page.$(`${group} button`), null, "nothing left to replay");
            await shot(page, `ops-dlq-replayed-${size}`);
            const replayed = await admin("GET", `/v1/jobs/count?queue=${q}&state=available`);
            equal(replayed.body.count, 130);
            // Discard one dead job: gone from the list and the API.
            const [victim] = await shownIds(page);
            await page.uncheck("input[data-action=select-all-matching]");
            await page.check(`tr[data-job="${victim}"] input[type=checkbox]`);
            await page.click("button[data-action=discard-selected]");
            await page.waitForSelector("dialog#confirm[open]");
            equal(await page.textContent("#confirm-title"), "Discard the 1 job selected?");
            await page.click("#confirm-ok");
            await page.waitForSelector(".toast:has-text('Discarded 1 job')");
            equal((await admin("GET", `/v1/jobs/${victim}`)).status, 404);
            await page.waitForSelector("[data-section=list] h2[data-total='129']");
          },
        );

        await t.step(`${size}: run a delayed job and a schedule now`, async () => {
          const later = await admin("POST", "/v1/jobs", { kind: "sluice.noop", delay: "1h" });
          const id = later.body.job.id;
          await page.goto(`${sluice.base}/#/jobs/${id}`);
          await page.click("button:text-is('Run now')");
          await waitFor(
            async () => (await admin("GET", `/v1/jobs/${id}`)).body.job.state === "succeeded",
            { what: `job ${id} to run`, timeoutMs: 15_000 },
          );
          await page.waitForFunction(
            () => document.querySelector("[data-section=head] .chip")?.textContent === "succeeded",
            undefined,
            { timeout: 15_000 },
          );
          await shot(page, `ops-run-now-job-${size}`);
          const name = `nightly-${size}`;
          const s = await admin("POST", "/v1/schedules", {
            name,
            cron: "0 3 * * *",
            kind: "sluice.noop",
          });
          equal(s.status, 201);
          await page.goto(`${sluice.base}/#/schedules`);
          const row = page.locator("tr", { has: page.locator(`td:text-is('${name}')`) });
          await row.locator("button:text-is('Run now')").click();
          await confirm(page);
          // This toast, not a link of an earlier one still on screen.
          const link = await page.waitForSelector(
            `.toast:has-text('Schedule ${name} enqueued job') a[data-job-link]`,
          );
          const jobId = await link.getAttribute("data-job-link");
          const job = (await admin("GET", `/v1/jobs/${jobId}`)).body.job;
          equal(job.tags.includes(`schedule:${name}`), true);
          equal(
            (await admin("GET", `/v1/schedules/${name}`)).body.schedule.nextSlot,
            s.body.schedule.nextSlot,
          );
          await shot(page, `ops-run-now-schedule-${size}`);
        });

        await t.step(`${size}: quiet a worker: it finishes its job and stops`, async () => {
          if (!(await admin("GET", "/v1/queues/quiet")).body?.queue) {
            const r = await admin("POST", "/v1/queues", {
              name: "quiet",
              delivery: { mode: "exec", command: ["/bin/sh", "-c", "sleep 2"] },
            });
            equal(r.status, 201, JSON.stringify(r.body));
          }
          const child = startWorker(db.url);
          workers.push(child);
          const worker = await waitFor(async () => {
            const { workers } = (await admin("GET", "/v1/workers")).body;
            return workers.find((w: { pid: number; state: string }) =>
              w.pid === child.pid && w.state === "online"
            );
          }, { what: "the worker to register", timeoutMs: 30_000 });
          const running = await admin("POST", "/v1/jobs", { queue: "quiet", kind: "sleep" });
          await waitFor(
            async () =>
              (await admin("GET", `/v1/jobs/${running.body.job.id}`)).body.job.state === "running",
            { what: "the job to start", timeoutMs: 15_000 },
          );
          await page.goto(`${sluice.base}/#/workers`);
          const row = `tr[data-worker="${worker.id}"]`;
          await page.click(`${row} button:text-is('Quiet')`);
          await confirm(page);
          await page.waitForSelector(`${row} :text('quieting')`, { timeout: 10_000 });
          await shot(page, `ops-worker-quiet-${size}`);
          equal((await child.status).code, 0, "the quieted worker exits 0");
          equal(
            (await admin("GET", `/v1/jobs/${running.body.job.id}`)).body.job.state,
            "succeeded",
          );
          const next = await admin("POST", "/v1/jobs", { queue: "quiet", kind: "sleep" });
          equal((await admin("GET", `/v1/jobs/${next.body.job.id}`)).body.job.state, "available");
          await page.waitForSelector(`${row} .chip:text-is('stopped')`, { timeout: 15_000 });
          // Leave nothing for the next size's worker to pick up first.
          await admin("POST", "/v1/jobs/bulk", { action: "cancel", filter: { queue: "quiet" } });
        });

        await t.step(`${size}: depth history of every queue, with hover values`, async () => {
          // Ten minutes of samples for nine queues (more than the palette), one with a burst;
          // written as the maintenance counter would (tests/maintenance/history_test.ts).
          const names = Array.from({ length: 9 }, (_, i) => `hist-${size}-${i}`);
          await db.sql`
          INSERT INTO sluice.queue_history (at, queue, waiting, running, succeeded, dead)
          SELECT date_trunc('minute', now()) - m * interval '1 minute', q,
            CASE WHEN q = ${names[0]!} AND m = 3 THEN 10000 ELSE 5 + m END, 0, 1, 0
          FROM unnest(${names}::text[]) q, generate_series(1, 10) m`;
          await page.goto(`${sluice.base}/#/overview`);
          const chart = "[data-section=charts] [data-chart=depth] ";
          // The route answers from a 5 s cache, and the page polls: the rows show by the next one.
          await page.waitForFunction(
            ({ sel, name }) => document.querySelector(sel)?.textContent?.includes(name),
            { sel: `${chart}.legend`, name: `${names[8]} waiting` },
            { timeout: 15_000 },
          );
          const legend = await page.innerText(`${chart}.legend`);
          for (const n of names) assert(legend.includes(`${n} waiting`), `${n} is drawn`);
          assert(
            Number(await page.getAttribute(`${chart}svg.chart`, "data-clipped")) >= 1,
            "the burst is clipped",
          );
          // Read from the page as it stands: its 5 s poll redraws the chart, so a title read by a
          // separate call can belong to a chart that was just replaced.
          await page.waitForFunction(
            ({ sel, want }) =>
              [...document.querySelectorAll(sel)].some((t) =>
                new RegExp(want).test(t.textContent ?? "")
              ),
            {
              sel: `${chart}path.clipped title`,
              want: `${names[0]} waiting: 10,000 .*above the axis`,
            },
            { timeout: 15_000 },
          );
          const hovers = await page.$$eval(
            `${chart}rect.hover title`,
            (ts) => ts.map((t) => t.textContent ?? ""),
          );
          assert(hovers.some((x) => x.includes(`${names[8]} waiting 6`)), hovers[0]);
          // The table alternative has a column per queue.
          const headers = await page.$$eval(
            `${chart}details.chart-table th`,
            (ths) => ths.map((th) => th.textContent),
          );
          for (const n of names) assert(headers.includes(`${n} waiting`));
          await shot(page, `ops-depth-history-${size}`);
          await page.click(`${chart}a[data-window='24h']`);
          await page.waitForSelector(
            "[data-section=charts] h2:text-is('Queue depth, last 24 hours')",
          );
          await db.sql`DELETE FROM sluice.queue_history WHERE queue = ANY(${names})`;
        });

        await t.step(`${size}: the overview's numbers and a stalled worker, counted`, async () => {
          // A worker row running three jobs with concurrency 1 (the scene of issue #19: "running"
          // 570 with concurrency 3, unflagged), built directly. Full leases, so the reaper of the
          // test's `up` leaves them alone (tests/api/status_test.ts covers a stuck buffer).
          const id = `stuck-${size}`;
          await db.sql`
          INSERT INTO sluice.workers (id, host, pid, queues, concurrency, version)
          VALUES (${id}, 'h', 1, '{nothing}', 1, 'test')`;
          await db.sql`
          INSERT INTO sluice.jobs (queue, kind, payload, state, max_attempts, attempt, worker_id,
                                   leased_at, lease_expires_at)
          SELECT 'nothing', 'k', '{}', 'running', 1, 1, ${id}, now(), now() + interval '1 hour'
          FROM generate_series(1, 3)`;
          await page.goto(`${sluice.base}/#/overview`);
          await page.waitForSelector("[data-section=status] [data-stalled]");
          match(
            await page.innerText("[data-section=status]"),
            new RegExp(`worker ${id} runs 3 jobs with concurrency 1`),
          );
          match(await page.innerText("[data-totals]"), /\/min · .* failed · p95 wait/);
          await page.waitForSelector("table[data-table=rates] tr[data-rates='all queues']");
          // Exporter health: the collector refuses metrics (400: not retried), the row says so.
          otlp.answer = 400;
          const metrics = await page.waitForSelector(
            "table[data-table=telemetry] tr[data-signal=metrics]:not([data-failed='0'])",
            { timeout: 15_000 },
          );
          assert(await metrics.$("code"), "the last error is shown");
          // …and the one status counts it (issue #19: exporter health is part of the status).
          await page.waitForFunction(
            () =>
              /OTLP export of metrics failing since/.test(
                document.querySelector("[data-section=status]")?.textContent ?? "",
              ),
            null,
            { timeout: 15_000 },
          );
          otlp.answer = 200;
          await page.waitForSelector("table[data-table=telemetry] tr[data-signal=traces]");
          await shot(page, `ops-overview-numbers-${size}`);
          await page.goto(`${sluice.base}/#/workers`);
          await page.waitForSelector(`tr[data-worker="${id}"]`);
          const flag = await page.waitForSelector(`tr[data-worker="${id}"] [data-stalled]`);
          match((await flag.innerText()) ?? "", /stalled: runs 3 jobs with concurrency 1/);
          await shot(page, `ops-worker-stalled-${size}`);
          await db.sql`DELETE FROM sluice.jobs WHERE worker_id = ${id}`;
          await db.sql`UPDATE sluice.workers SET stopped_at = now() WHERE id = ${id}`;
        });
      }
      equal(pageErrors.length, 0, pageErrors.join("\n"));
      await context.close();
    } finally {
      for (const w of workers) {
        try {
          w.kill("SIGTERM");
        } catch { /* exited */ }
        await w.status;
      }
      await browser.close();
      await sluice.stop();
      await otlp.close();
    }
  });
});
