/// <reference lib="dom" />
/** What the ops page browser tests share: a bearer client, sign-in, screenshots, sizes. */
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const SHOTS = `${ROOT}test-output/screenshots`;
/** A bearer-token client for setting the scene and checking results. */
export function client(base: string, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

export async function signIn(page: Page, base: string, token: string, expect: string) {
  await page.goto(`${base}/`);
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.waitForFunction(
    (text) => document.querySelector("#whoami")?.textContent === text,
    expect,
  );
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };
export const SIZES = [["desktop", DESKTOP], ["phone", PHONE]] as const;

/** What every view must satisfy at any size: see tests/e2e/ops_page_test.ts steps. */
export async function layoutFacts(page: Page) {
  return await page.evaluate(() => {
    const ths = [...document.querySelectorAll("#view th")];
    return {
      overflow: document.documentElement.scrollWidth - innerWidth,
      thWithoutScope: ths.filter((th) => !th.getAttribute("scope")).length,
      camelHeaders: ths.map((th) => th.textContent ?? "").filter((t) => /[a-z][A-Z]/.test(t)),
      live: document.querySelector("#live-text")?.textContent,
    };
  });
}

export async function confirm(page: Page) {
  await page.waitForSelector("dialog#confirm[open]");
  await page.click("#confirm-ok");
  await page.waitForSelector("dialog#confirm:not([open])", { state: "attached" });
}
