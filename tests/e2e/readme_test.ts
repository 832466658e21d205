/**
 * README.md is executable, like runbook.md: every fenced ```sh block runs, in order, in bash
 * against a live `sluice up` on a fresh test database (its first job is job 1, as in the
 * README), with `sluice` on PATH. What a reader substitutes, the test substitutes: the api's
 * address for `http://127.0.0.1:8080`, the worker metrics address for `127.0.0.1:9464`, the
 * printed admin token for `sluice_…`, a scratch database for `postgres://…/fresh`. `deno task
 * sluice …` runs `main.ts` (README says so), here through the same `sluice` wrapper, so blocks can
 * run in a scratch directory instead of the checkout.
 *
 * Every `curl` in a block fails it on an HTTP error (`--fail-with-body`): README examples show
 * what works. Blocks that cannot run on a test machine (root, systemd, docker, starting a
 * foreground server) are ```console; their sluice/curl/systemctl/docker compose lines must be
 * covered elsewhere (tests/e2e/_doc_blocks.ts).
 */
import { ok as assert } from "node:assert/strict";
import { generateToken } from "../../src/auth/tokens.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { startSluice } from "../_helpers/sluice_process.ts";
import {
  assertOtherBlocksCovered,
  fencedBlocks,
  freePort,
  ROOT,
  runShellBlocks,
  writeWrapper,
} from "./_doc_blocks.ts";

Deno.test("README.md: every sh block runs against a live sluice up", async (t) => {
  const blocks = fencedBlocks(await Deno.readTextFile(`${ROOT}README.md`));
  assert(blocks.filter((b) => b.lang === "sh").length >= 10, "README.md has few sh blocks");
  // runbook_test.ts runs runbook.md's sh blocks: a README line of the same shape is run there.
  const runbook = fencedBlocks(await Deno.readTextFile(`${ROOT}runbook.md`));
  await t.step(
    "lines of other blocks are covered elsewhere",
    () => assertOtherBlocksCovered("README.md", blocks, runbook),
  );

  await withTestDatabase(async (db) => {
    await withTestDatabase(async (scratch) => {
      const token = generateToken();
      const metricsPort = freePort();
      const dir = await Deno.makeTempDir({ prefix: "sluice-readme-" });
      const up = await startSluice(db, {
        token,
        env: { SLUICE_WORKER_METRICS_ADDR: `127.0.0.1:${metricsPort}` },
      });
      try {
        const bin = await writeWrapper(dir);
        const work = `${dir}/work`;
        await Deno.mkdir(work);
        const state = `${dir}/state.sh`;
        await Deno.writeTextFile(state, `curl() { command curl --fail-with-body "$@"; }\n`);
        const apiAddr = up.base.replace("http://", "");
        await runShellBlocks(t, {
          file: "README.md",
          blocks,
          env: {
            PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
            HOME: dir,
            LANG: "C.UTF-8",
            NO_COLOR: "1",
            DATABASE_URL: db.url,
            TOKEN: token,
          },
          cwd: work,
          state,
          rewrite: (text) =>
            text
              .replaceAll("deno task sluice ", "sluice ")
              .replaceAll("127.0.0.1:8080", apiAddr)
              .replaceAll("127.0.0.1:9464", `127.0.0.1:${metricsPort}`)
              .replaceAll("sluice_…", token)
              .replaceAll("postgres://…/fresh", scratch.url),
        });
      } finally {
        await up.stop();
        await Deno.remove(dir, { recursive: true });
      }
    });
  });
});
