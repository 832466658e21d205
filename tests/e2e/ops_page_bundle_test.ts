/// <reference lib="dom" />
/**
 * The ops page from the bundle: dist/sluice.js alone in an empty directory serves every ES
 * module of static/ under the strict CSP (script-src 'self'), and the page boots, signs in and
 * renders in a real browser with no console errors.
 */
import { equal, ok as assert } from "node:assert/strict";
import { bundleStamped } from "../../scripts/_build.ts";
import { OPS_PAGE_PATHS } from "../../src/api/static.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { launchBrowser, startSluice } from "../_helpers/sluice_process.ts";

const ADMIN = `sluice_${"bundleAdminToken".padEnd(40, "b")}`;

Deno.test("the ops page loads its modules from the bundle run in an empty directory", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "sluice-page-bundle-" });
  // Its own output path, so this never races another test bundling into dist/.
  await bundleStamped(`${cwd}/sluice.js`);
  await withTestDatabase(async (db) => {
    const sluice = await startSluice(db, {
      token: ADMIN,
      role: "api",
      program: ["run", "-A", "--no-config", "sluice.js"],
      cwd,
    });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => {
        // Chromium logs every 4xx as "Failed to load resource"; the response handler judges those.
        if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
          errors.push(m.text());
        }
      });
      const scripts = new Map<string, number>();
      page.on("response", (r) => {
        const path = new URL(r.url()).pathname;
        if (path.endsWith(".js")) scripts.set(path, r.status());
        // Before sign-in the page asks whether a session exists: that 401 is the expected answer.
        if (r.status() >= 400 && path !== "/v1/session") errors.push(`${r.status()} ${path}`);
      });
      const doc = await page.goto(`${sluice.base}/`);
      assert(doc?.headers()["content-security-policy"]?.includes("script-src 'self'"));
      await page.fill("#token", ADMIN);
      await page.press("#token", "Enter");
      await page.waitForSelector("[data-section=status] .big");
      const modules = OPS_PAGE_PATHS.filter((p) => p.endsWith(".js"));
      for (const m of modules) equal(scripts.get(m), 200, `${m} loaded from the bundle`);
      equal(errors.length, 0, errors.join("\n"));
    } finally {
      await browser.close();
      await sluice.stop();
      await Deno.remove(cwd, { recursive: true });
    }
  });
});
