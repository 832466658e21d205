/// <reference lib="dom" />
/**
 * The ops page in a real browser (Debian's chromium through playwright-core) against a real
 * `sluice up` process on a test database: one browser, one context per signed-in user.
 * Screenshots of each main view land in test-output/screenshots/ (gitignored).
 */
import { equal, match, ok as assert } from "node:assert/strict";
import { withTestDatabase } from "../_helpers/db.ts";
import { launchBrowser, startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { hashToken, revokeToken } from "../../src/auth/tokens.ts";
import {
  client,
  confirm,
  DESKTOP,
  layoutFacts,
  PHONE,
  shot,
  SHOTS,
  signIn,
  SIZES,
} from "./_ops_page.ts";

const ADMIN = `sluice_${"e2eAdminToken".padEnd(40, "x")}`;
const READER = `sluice_${"e2eReadToken".padEnd(40, "r")}`;

Deno.test("the ops page runs the system from a browser", async (t) => {
  await Deno.mkdir(SHOTS, { recursive: true });
  const marker = await Deno.makeTempFile({ prefix: "sluice-e2e-fixed-" });
  await Deno.remove(marker);
  await withTestDatabase(async (db) => {
    const sluice = await startSluice(db, { token: ADMIN });
    const browser = await launchBrowser();
    const admin = client(sluice.base, ADMIN);
    try {
      await db.sql`
      INSERT INTO sluice.tokens (name, scope, hash) VALUES ('viewer', 'read', ${await hashToken(
        READER,
      )})`;
      // A queue whose handler fails until "the downstream is fixed" (the marker file exists).
      equal(
        (await admin("POST", "/v1/queues", {
          name: "flaky",
          maxAttempts: 1,
          delivery: { mode: "exec", command: ["/bin/sh", "-c", `test -e ${marker}`] },
        })).status,
        201,
      );
      equal((await admin("POST", "/v1/queues", { name: "e2e-counts" })).status, 201);
      equal((await admin("POST", "/v1/queues/e2e-counts/pause")).status, 200);
      const deadIds: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await admin("POST", "/v1/jobs", {
          queue: "flaky",
          kind: "report.render",
          payload: { report: i, note: "<b>not markup</b>" },
        });
        equal(r.status, 201, JSON.stringify(r.body));
        deadIds.push(r.body.job.id);
      }
      await waitFor(async () => {
        const r = await admin("GET", "/v1/dlq?queue=flaky");
        return r.body.jobs.length === 4;
      }, { timeoutMs: 20_000, what: "4 dead jobs in flaky" });

      const context = await browser.newContext({ viewport: DESKTOP });
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));

      await t.step("sign in shows the overview", async () => {
        await signIn(page, sluice.base, ADMIN, "bootstrap · admin");
        await page.waitForSelector("[data-section=charts] svg.chart");
        await page.waitForSelector("table[data-table=queues] tr[data-queue=flaky]");
        await shot(page, "overview");
      });

      await t.step("a queue's counts change after enqueueing through the API", async () => {
        await page.goto(`${sluice.base}/#/queues`);
        const cell = "tr[data-queue=e2e-counts] td[data-state=available]";
        await page.waitForSelector(cell);
        equal((await page.textContent(cell))?.trim(), "0");
        for (let i = 0; i < 3; i++) {
          equal(
            (await admin("POST", "/v1/jobs", { queue: "e2e-counts", kind: "sluice.noop" })).status,
            201,
          );
        }
        await page.waitForFunction(
          (sel) => document.querySelector(sel)?.textContent?.trim() === "3",
          cell,
          { timeout: 15_000 },
        );
        await shot(page, "queues");
      });

      await t.step("pause and resume a queue", async () => {
        await page.goto(`${sluice.base}/#/queues/e2e-counts`);
        await page.click("button:text-is('Resume')");
        await waitFor(
          async () => (await admin("GET", "/v1/queues/e2e-counts")).body.queue.paused === false,
          {
            what: "e2e-counts resumed",
          },
        );
        await page.click("button:text-is('Pause')", { timeout: 10_000 });
        await confirm(page);
        await waitFor(async () => (await admin("GET", "/v1/queues/e2e-counts")).body.queue.paused, {
          what: "e2e-counts paused",
        });
        await page.waitForSelector("button:text-is('Resume')", { timeout: 10_000 });
        await shot(page, "queue");
      });

      await t.step(
        "a dead job explains itself, shows its timeline, and its replay succeeds",
        async () => {
          const id = deadIds[0]!;
          await page.goto(`${sluice.base}/#/jobs/${id}`);
          const explain = await page.waitForSelector(".explain[data-code]");
          const code = await explain.getAttribute("data-code");
          assert(code?.startsWith("DEAD_"), `explain code ${code}`);
          assert(((await explain.textContent()) ?? "").includes(id));
          await page.waitForSelector("ol[data-timeline] li.t-dead");
          assert(
            ((await page.textContent("pre[data-payload]")) ?? "").includes("<b>not markup</b>"),
          );
          await shot(page, "job-dead");
          await Deno.writeTextFile(marker, "fixed");
          await page.click("button:text-is('Replay')");
          await confirm(page);
          const child = await page.waitForSelector("a[data-lineage=child]", { timeout: 10_000 });
          await child.click();
          await page.waitForSelector("a[data-lineage=parent]");
          await page.waitForFunction(
            () => document.querySelector("[data-section=head] .chip")?.textContent === "succeeded",
            undefined,
            { timeout: 15_000 },
          );
          await shot(page, "job-replayed");
        },
      );

      await t.step("bulk replay from the dead-letter view", async () => {
        await page.goto(`${sluice.base}/#/dlq`);
        await page.waitForSelector("table[data-table=dlq-groups]");
        for (const id of deadIds.slice(1, 3)) {
          await page.check(`tr[data-job="${id}"] input[type=checkbox]`);
        }
        await shot(page, "dlq");
        await page.click("button[data-action=replay-selected]");
        await confirm(page);
        await page.waitForSelector(".toast:has-text('Replayed 2 jobs')");
        for (const id of deadIds.slice(1, 3)) {
          await waitFor(async () => {
            const r = await admin("GET", `/v1/jobs?retryOf=${id}`);
            return r.body.jobs[0]?.state === "succeeded";
          }, { timeoutMs: 15_000, what: `the replay of ${id} to succeed` });
        }
      });

      await t.step("the other views render", async () => {
        for (const view of ["jobs", "workers", "schedules", "circuits", "decisions", "tokens"]) {
          await page.goto(`${sluice.base}/#/${view}`);
          await page.waitForSelector(`[data-view="/${view}"] h1`);
          equal(await page.locator("[data-unavailable]").count(), 0, `${view} has its route`);
          await shot(page, view);
        }
        // The overview's alerts come from /v1/ops/alerts, not a "not available" placeholder.
        await page.goto(`${sluice.base}/#/overview`);
        await page.waitForSelector("[data-section=alerts] h2:text-is('Firing alerts')");
        // Export is off here: no telemetry panel at all.
        equal(await page.locator("table[data-table=telemetry]").count(), 0);
        await page.setViewportSize({ width: 390, height: 844 });
        await page.goto(`${sluice.base}/#/queues`);
        await page.waitForSelector("table[data-table=queues]");
        await shot(page, "queues-phone");
        await page.click("#theme");
        await shot(page, "queues-phone-theme");
      });

      await t.step("create and pause a schedule from the schedules view", async () => {
        await page.goto(`${sluice.base}/#/schedules`);
        await page.fill("#s-name", "e2e-nightly");
        await page.fill("#s-cron", "0 3 * * *");
        await page.fill("#s-timezone", "Europe/Berlin");
        await page.fill("#s-kind", "sluice.noop");
        await page.click("button:text-is('Create schedule')");
        await page.waitForSelector("td:text-is('e2e-nightly')", { timeout: 10_000 });
        const s = (await admin("GET", "/v1/schedules/e2e-nightly")).body.schedule;
        equal(s.timezone, "Europe/Berlin");
        await page.click("button:text-is('Pause')");
        await waitFor(
          async () => (await admin("GET", "/v1/schedules/e2e-nightly")).body.schedule.paused,
          {
            what: "e2e-nightly paused",
          },
        );
        await shot(page, "schedules-created");
      });

      await t.step("the topics view lists each topic with its subscribed queues", async () => {
        for (const queue of ["e2e-counts", "flaky"]) {
          equal((await admin("POST", "/v1/topics/orders/subscriptions", { queue })).status, 201);
        }
        await page.goto(`${sluice.base}/#/topics`);
        const row = page.locator("table[data-table=topics] tr", { hasText: "orders" });
        await row.waitFor();
        const text = await row.textContent();
        assert(text?.includes("e2e-counts") && text.includes("flaky"), text ?? "");
        await shot(page, "topics");
      });

      await t.step("every view is accessible and fits at 1440×900 and 390×844", async () => {
        const views = ["overview", "queues", "jobs", "dlq", `jobs/${deadIds[3]}`, "workers"];
        views.push("schedules", "topics", "circuits", "decisions", "queues/flaky", "tokens");
        for (const [size, viewport] of SIZES) {
          await page.setViewportSize(viewport);
          for (const view of views) {
            await page.goto(`${sluice.base}/#/${view}`);
            await page.waitForSelector(`[data-view="/${view}"] h1`);
            await page.waitForSelector(`[data-view="/${view}"] [data-section]`);
            const facts = await layoutFacts(page);
            equal(
              facts.overflow <= 0,
              true,
              `${view} at ${size} scrolls sideways by ${facts.overflow}px`,
            );
            equal(facts.thWithoutScope, 0, `${view}: table headers without scope`);
            equal(facts.camelHeaders.length, 0, `${view}: headers ${facts.camelHeaders}`);
            equal(facts.live, "Live", "the live state is said in words");
            await shot(page, `a11y-${view.replace("/", "-")}-${size}`);
          }
        }
      });

      await t.step("on a phone the nav folds into a menu and tables become cards", async () => {
        await page.setViewportSize(PHONE);
        await page.goto(`${sluice.base}/#/queues`);
        await page.waitForSelector("table[data-table=queues]");
        equal(await page.isVisible("#nav"), false, "the nav is folded");
        await page.click("#menu");
        const boxes = await page.$$eval("#nav a", (as) =>
          as.map((a) => {
            const r = a.getBoundingClientRect();
            return { text: a.textContent, left: r.left, right: r.right, width: r.width };
          }));
        equal(boxes.length, 12);
        for (const b of boxes) {
          assert(b.width > 0 && b.left >= 0 && b.right <= PHONE.width, JSON.stringify(b));
        }
        await shot(page, "nav-menu-phone");
        await page.click("#nav a[data-view=dlq]");
        await page.waitForSelector("[data-view='/dlq'] h1");
        equal(await page.isVisible("#nav"), false, "choosing a view folds the menu again");
        await page.goto(`${sluice.base}/#/queues`);
        const cell = page.locator("tr[data-queue=flaky] td[data-state=dead]");
        equal(await cell.evaluate((td) => getComputedStyle(td.parentElement!).display), "block");
        assert(await cell.isVisible(), "the right-hand columns stay on screen as card lines");
        const box = (await cell.boundingBox())!;
        assert(box.x >= 0 && box.x + box.width <= PHONE.width, JSON.stringify(box));
        await shot(page, "queues-cards-phone");
        await page.setViewportSize(DESKTOP);
        equal(
          await cell.evaluate((td) => getComputedStyle(td.parentElement!).display),
          "table-row",
        );
      });

      await t.step("each chart has a table of its numbers", async () => {
        await page.goto(`${sluice.base}/#/overview`);
        await page.waitForSelector("[data-section=charts] svg.chart");
        const charts = await page.$$eval(
          "[data-section=charts] svg.chart",
          (svgs) =>
            svgs.map((svg) => {
              const table = svg.parentElement?.querySelector("details.chart-table table");
              return {
                label: svg.getAttribute("aria-label"),
                headers: table ? [...table.querySelectorAll("th[scope=col]")].length : 0,
              };
            }),
        );
        equal(charts.length, 3);
        for (const c of charts) assert(c.headers >= 2, JSON.stringify(c));
        await page.click("details.chart-table summary");
        await shot(page, "overview-chart-table");
      });

      await t.step("explain shows times for people, not ISO strings", async () => {
        await page.goto(`${sluice.base}/#/jobs/${deadIds[3]}`);
        const text = (await (await page.waitForSelector(".explain")).innerText()) ?? "";
        equal(/\d{4}-\d\d-\d\dT\d\d:/.test(text), false, text);
      });

      await t.step("a destructive dialog starts on Cancel, so Enter does nothing", async () => {
        for (const [size, viewport] of SIZES) {
          await page.setViewportSize(viewport);
          await page.goto(`${sluice.base}/#/queues/flaky`);
          await page.click("button:text-is('Drain')");
          await page.waitForSelector("dialog#confirm[open]");
          equal(await page.evaluate(() => document.activeElement?.id), "confirm-cancel");
          await shot(page, `dialog-${size}`);
          await page.keyboard.press("Enter");
          await page.waitForSelector("dialog#confirm:not([open])", { state: "attached" });
          equal((await admin("GET", "/v1/queues/flaky")).body.queue.paused, false);
        }
        await page.setViewportSize(DESKTOP);
      });

      await t.step(
        "an outage keeps the last data, marked stale, and the banner leaves after",
        async () => {
          for (const [size, viewport] of SIZES) {
            await page.setViewportSize(viewport);
            await page.goto(`${sluice.base}/#/queues`);
            await page.waitForSelector("table[data-table=queues] tr[data-queue=flaky]");
            await context.setOffline(true);
            await page.waitForSelector("#banner:not([hidden])", { timeout: 15_000 });
            match(await page.innerText("#banner"), /NETWORK_ERROR.*stale since \d\d:\d\d/);
            equal(await page.textContent("#live-text"), "Offline");
            assert(await page.isVisible("table[data-table=queues] tr[data-queue=flaky]"), "kept");
            await shot(page, `outage-${size}`);
            await context.setOffline(false);
            await page.waitForSelector("#banner", { state: "hidden", timeout: 15_000 });
            equal(await page.textContent("#live-text"), "Live");
            equal(await page.locator("#view.stale").count(), 0);
          }
          await page.setViewportSize(DESKTOP);
        },
      );

      await t.step("cross-site requests with the cookie are refused", async () => {
        // An attacker page on another origin (same host, other port: same-site, so even the
        // SameSite cookie is sent, and the Origin check must refuse it).
        const evil = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen() {} },
          () =>
            new Response(
              `<!doctype html><form id=f method=POST action="${sluice.base}/v1/queues/e2e-counts/resume"></form>`,
              { headers: { "content-type": "text/html" } },
            ),
        );
        try {
          await page.goto(`http://127.0.0.1:${evil.addr.port}/`);
          const [res] = await Promise.all([
            page.waitForResponse((r) => r.url().includes("/v1/queues/e2e-counts/resume")),
            page.evaluate(() => (document.getElementById("f") as HTMLFormElement).submit()),
          ]);
          equal(res.status(), 403);
          // The form post navigated the tab to the refusal; let that finish before moving on.
          await page.waitForURL((u) => u.pathname.endsWith("/resume"));
        } finally {
          await evil.shutdown();
        }
        // The cookie alone, same origin, without the CSRF header: refused too.
        const cookies = await context.cookies(sluice.base);
        const cookie = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
        const res = await fetch(`${sluice.base}/v1/queues/e2e-counts/resume`, {
          method: "POST",
          headers: { cookie },
        });
        equal(res.status, 403);
        equal((await res.json()).error.code, "CSRF_REJECTED");
        equal((await admin("GET", "/v1/queues/e2e-counts")).body.queue.paused, true);
      });

      await t.step("sign out ends the session", async () => {
        await page.goto(`${sluice.base}/#/overview`);
        await page.click("#signout");
        await page.waitForSelector("#signin:not([hidden])");
        const r = await page.evaluate(async () => (await fetch("/v1/session")).status);
        equal(r, 401);
      });

      await t.step("a read session sees no mutating buttons and the API refuses it", async () => {
        // The same browser context after the admin signed out: nothing of that session remains.
        const rp = page;
        await signIn(rp, sluice.base, READER, "viewer · read");
        await rp.goto(`${sluice.base}/#/queues/e2e-counts`);
        await rp.waitForSelector("[data-section=policy] form");
        equal(await rp.locator("[data-section=head] button").count(), 0);
        equal(await rp.locator("[data-section=policy] button[type=submit]").count(), 0);
        await rp.goto(`${sluice.base}/#/dlq`);
        await rp.waitForSelector("[data-section=list]");
        equal(await rp.locator("#view button").count(), 0);
        await rp.goto(`${sluice.base}/#/jobs/${deadIds[3]}`);
        await rp.waitForSelector(".explain");
        equal(await rp.locator("#view button:not(.ghost)").count(), 0);
        const refused = await rp.evaluate(async () => {
          const s = await (await fetch("/v1/session")).json();
          const r = await fetch("/v1/queues/e2e-counts/resume", {
            method: "POST",
            headers: { "x-csrf-token": s.csrfToken },
          });
          return { status: r.status, body: await r.json() };
        });
        equal(refused.status, 403);
        equal(refused.body.error.code, "FORBIDDEN");
      });

      await t.step("a revoked token's session shows why it ended", async () => {
        await revokeToken(db.sql, "viewer");
        await page.goto(`${sluice.base}/#/overview`);
        await page.reload();
        await page.waitForSelector("#signin:not([hidden])");
        await page.waitForSelector("#signin-error:not([hidden])");
        match(
          await page.locator("#signin-error").innerText(),
          /^Your session ended: the token .* has been revoked.*\(TOKEN_REVOKED\)$/,
        );
      });

      await t.step("a session ended while the page is open says why, at both sizes", async () => {
        const ops = `sluice_${"e2eOpsToken".padEnd(40, "o")}`;
        await db.sql`
        INSERT INTO sluice.tokens (name, scope, hash) VALUES ('ops', 'admin', ${await hashToken(
          ops,
        )})`;
        // Desktop: the token is revoked from the CLI's code path while the overview polls.
        await page.setViewportSize(DESKTOP);
        await signIn(page, sluice.base, ops, "ops · admin");
        await page.waitForSelector("[data-section=status]");
        await revokeToken(db.sql, "ops");
        await page.waitForSelector("#signin-error:not([hidden])", { timeout: 15_000 });
        match(await page.innerText("#signin-error"), /\(TOKEN_REVOKED\)$/);
        assert(await page.isVisible("#signin"), "the sign-in form is back");
        await shot(page, "session-ended-token-desktop");
        // Phone: signed out in another tab of the same browser; this tab's next poll says so.
        await page.setViewportSize(PHONE);
        await signIn(page, sluice.base, ADMIN, "bootstrap · admin");
        await page.waitForSelector("[data-section=status]");
        const other = await context.newPage();
        await other.goto(`${sluice.base}/#/queues`);
        await other.waitForSelector("#signout", { state: "visible" });
        await other.click("#signout");
        await other.close();
        await page.waitForSelector("#signin-error:not([hidden])", { timeout: 15_000 });
        match(
          await page.innerText("#signin-error"),
          /^Your session ended: it expired or was signed out in another tab\. Sign in again \(\w+\)$/,
        );
        await shot(page, "session-ended-signed-out-phone");
        await page.setViewportSize(DESKTOP);
      });

      equal(
        pageErrors.filter((e) => !e.includes("Failed to load resource")).length,
        0,
        pageErrors.join("\n"),
      );
      await context.close();
    } finally {
      await browser.close();
      await sluice.stop();
      await Deno.remove(marker).catch(() => {});
    }
  });
});
