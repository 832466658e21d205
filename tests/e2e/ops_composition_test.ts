/// <reference lib="dom" />
/**
 * The ops page's workflow and batch views in a real browser against `sluice up`: the workflow
 * graph with its nodes coloured by state and linked to their jobs, and batch progress bars, at
 * desktop and phone sizes (no page-wide horizontal scroll).
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { withTestDatabase } from "../_helpers/db.ts";
import { launchBrowser, startSluice } from "../_helpers/sluice_process.ts";
import { waitFor } from "../_helpers/wait.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHOTS = `${ROOT}test-output/screenshots`;
const ADMIN = `sluice_${"e2eCompositionToken".padEnd(40, "x")}`;

Deno.test("the ops page shows workflows as graphs and batches with progress bars", async (t) => {
  await Deno.mkdir(SHOTS, { recursive: true });
  await withTestDatabase(async (db) => {
    const sluice = await startSluice(db, { token: ADMIN });
    const browser = await launchBrowser();
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${sluice.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    try {
      // sluice.fail is permanent here: "check" dies, so "publish" is cancelled (PARENT_FAILED).
      const wf = await call("POST", "/v1/workflows", {
        name: "release",
        jobs: [
          { key: "build", kind: "sluice.noop" },
          { key: "check", kind: "sluice.fail", payload: { permanent: true }, dependsOn: ["build"] },
          { key: "docs", kind: "sluice.noop", dependsOn: ["build"] },
          { key: "publish", kind: "sluice.noop", dependsOn: ["check", "docs"] },
        ],
      });
      equal(wf.status, 201, JSON.stringify(wf.body));
      const id = wf.body.workflow.id;
      await waitFor(
        async () => (await call("GET", `/v1/workflows/${id}`)).body.workflow.state === "failed",
        {
          timeoutMs: 20_000,
          what: "the workflow to fail",
        },
      );
      const batch = await call("POST", "/v1/batches", {
        name: "nightly",
        jobs: [{ kind: "sluice.noop" }, { kind: "sluice.noop" }],
        onComplete: { kind: "sluice.noop" },
      });
      equal(batch.status, 201, JSON.stringify(batch.body));
      await waitFor(
        async () =>
          (await call("GET", `/v1/batches/${batch.body.batch.id}`)).body.batch.state === "settled",
        {
          timeoutMs: 20_000,
          what: "the batch to settle",
        },
      );
      for (
        const [size, viewport] of [["desktop", { width: 1440, height: 900 }], ["phone", {
          width: 390,
          height: 844,
        }]] as const
      ) {
        await t.step(
          `${size}: the workflow list, its graph and a click through to a job`,
          async () => {
            const context = await browser.newContext({ viewport });
            const page = await context.newPage();
            const errors: string[] = [];
            page.on("pageerror", (e) => errors.push(String(e)));
            await page.goto(`${sluice.base}/`);
            await page.fill("#token", ADMIN);
            await page.press("#token", "Enter");
            // Hidden behind the menu on a phone: wait for its text, not its visibility.
            await page.waitForFunction(() => document.querySelector("#whoami")?.textContent !== "");
            await page.goto(`${sluice.base}/#/workflows`);
            await page.click(`table[data-table=workflows] a[href="#/workflows/${id}"]`);
            await page.waitForSelector(".wf-graph svg");
            const nodes = await page.evaluate(() =>
              [...document.querySelectorAll(".wf-node")].map((n) => [
                n.getAttribute("data-key"),
                n.getAttribute("class"),
              ])
            );
            deepStrictEqual(nodes, [
              ["build", "wf-node s-succeeded"],
              ["check", "wf-node s-dead"],
              ["docs", "wf-node s-succeeded"],
              ["publish", "wf-node s-cancelled"],
            ]);
            equal(await page.locator(".wf-edge").count(), 4);
            const overflow = await page.evaluate(() =>
              document.documentElement.scrollWidth - innerWidth
            );
            equal(overflow <= 0, true, `no page-wide horizontal scroll (${overflow}px)`);
            await page.screenshot({ path: `${SHOTS}/workflow-${size}.png`, fullPage: true });
            await page.click('.wf-node[data-key="check"]');
            await page.waitForFunction(() => location.hash.startsWith("#/jobs/"));
            await page.goto(`${sluice.base}/#/batches`);
            await page.waitForSelector("table[data-table=batches] progress");
            const bar = await page.evaluate(() => {
              const p = document.querySelector(
                "table[data-table=batches] progress",
              ) as HTMLProgressElement;
              return [p.value, p.max];
            });
            deepStrictEqual(bar, [2, 2]);
            await page.screenshot({ path: `${SHOTS}/batches-${size}.png`, fullPage: true });
            deepStrictEqual(errors, []);
            await context.close();
          },
        );
      }
    } finally {
      await browser.close();
      await sluice.stop();
    }
  });
});
