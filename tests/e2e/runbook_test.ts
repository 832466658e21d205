/**
 * runbook.md is executable: every fenced ```sh block runs, in order, in bash against a live
 * `sluice up` (API + worker metrics port + maintenance) on a test database, with `sluice` on
 * PATH (a wrapper around `deno run -A main.ts`) and the variables the runbook's conventions
 * block names (API_URL, WORKER_URL, TOKEN, DATABASE_URL, SCRATCH_DATABASE_URL, CREDS, QUEUE).
 * A block must exit 0: expected refusals are checked explicitly in the runbook (`refuses CODE
 * cmd`, or `| grep CODE` on a curl answer). Variables and functions a block defines carry over
 * to the next block, as they would in the operator's shell.
 *
 * `journalctl` in a block is a stand-in that prints this live instance's log (the JSON lines a
 * journal would hold), so the log triage filters run against real output.
 *
 * Blocks in any other language (```console for systemctl, docker compose, journalctl, pg
 * tools against production) are not run here; each `sluice …`, `curl …`, `systemctl …` or
 * `docker compose …` line in them must match an entry of COVERED_ELSEWHERE, which names the
 * test that covers it. And every `sluice <command> <subcommand>` and every route written in the
 * prose must be run by some block or covered elsewhere: a runbook line that stops working, or
 * a procedure that mentions something no test runs, fails this test.
 */
import { equal, ok as assert } from "node:assert/strict";
import { generateToken } from "../../src/auth/tokens.ts";
import { withTestDatabase } from "../_helpers/db.ts";
import { OtlpReceiver } from "../telemetry/_otlp_receiver.ts";
import { startSluice } from "../_helpers/sluice_process.ts";
import {
  assertOtherBlocksCovered,
  commandLines,
  coveredElsewhere,
  fencedBlocks,
  freePort,
  prose,
  ROOT,
  routeRegex,
  runShellBlocks,
  writeWrapper,
} from "./_doc_blocks.ts";

const RUNBOOK = `${ROOT}runbook.md`;

Deno.test("runbook.md: every block runs against a live sluice up", async (t) => {
  for (const tool of ["bash", "curl", "jq", "pg_dump", "pg_restore"]) {
    const found = await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`] }).output();
    assert(found.success, `runbook.md needs '${tool}' on PATH (see .ci/run)`);
  }
  const md = await Deno.readTextFile(RUNBOOK);
  const blocks = fencedBlocks(md);
  const runnable = blocks.filter((b) => b.lang === "sh");
  assert(runnable.length >= 20, `only ${runnable.length} sh blocks`);
  const executed = runnable.flatMap((b) => commandLines(b.text));

  await t.step(
    "lines of other blocks are covered elsewhere",
    () => assertOtherBlocksCovered("runbook.md", blocks),
  );

  await t.step("every command and route named in the prose is run by a block", () => {
    const text = prose(md);
    const missing: string[] = [];
    for (const m of text.matchAll(/`sluice ([a-z]+)(?: ([a-z][a-z-]*))?[^`]*`/g)) {
      const cmd = m[2] ? `sluice ${m[1]} ${m[2]}` : `sluice ${m[1]}`;
      const head = `sluice ${m[1]}`;
      const ran = executed.some((l) => l.includes(cmd) || (!m[2] && l.includes(head)));
      if (!ran && !coveredElsewhere(m[0].slice(1, -1))) missing.push(m[0]);
    }
    for (
      const m of text.matchAll(
        /`((?:GET|POST|PATCH|DELETE) )?(\/(?:v1|healthz|readyz|health|metrics)[^`\s]*)[^`]*`/g,
      )
    ) {
      // The prefix alone, or a family written with an ellipsis, is not a route.
      if (m[2] === "/v1" || m[2]!.includes("…")) continue;
      const re = routeRegex(m[2]!);
      const ran = executed.some((l) => re.test(l));
      if (!ran && !coveredElsewhere(m[0].slice(1, -1))) missing.push(m[0]);
    }
    assert(
      missing.length === 0,
      `named in runbook.md but run by no block:\n${[...new Set(missing)].join("\n")}`,
    );
  });

  await withTestDatabase(async (db) => {
    await withTestDatabase(async (scratch) => {
      const token = generateToken();
      const metricsPort = freePort();
      const dir = await Deno.makeTempDir({ prefix: "sluice-runbook-" });
      // The collector of "Verify telemetry": the live instance exports to it, and the operator shell
      // carries the same OTEL_* variables (sourced from sluice.env in section 0).
      const otlp = new OtlpReceiver();
      const telemetryEnv = {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_METRIC_EXPORT_INTERVAL: "1000",
      };
      const up = await startSluice(db, {
        token,
        env: {
          ...telemetryEnv,
          SLUICE_WORKER_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
          SLUICE_SIGNING_SECRETS: "whsec_" + btoa("runbook-test-signing-secret-32b!"),
          SLUICE_LOG_LEVEL: "info",
        },
      });
      try {
        // The world the runbook's examples assume: an old producer token to rotate away from and
        // the signing-secret credential file it rotates.
        const made = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `${ROOT}main.ts`,
            "token",
            "create",
            "--name",
            "shop-2026-05",
            "--scope",
            "producer",
          ],
          env: { DATABASE_URL: db.url, NO_COLOR: "1" },
          stdout: "null",
          stderr: "piped",
        }).output();
        equal(made.code, 0, new TextDecoder().decode(made.stderr));
        await Deno.mkdir(`${dir}/credentials`);
        await Deno.writeTextFile(
          `${dir}/credentials/sluice_signing_secrets`,
          "whsec_" + btoa("runbook-test-signing-secret-32b!") + "\n",
        );
        const bin = await writeWrapper(dir);
        const work = `${dir}/work`;
        await Deno.mkdir(work);
        const state = `${dir}/state.sh`;
        const env = {
          PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
          HOME: dir,
          LANG: "C.UTF-8",
          NO_COLOR: "1",
          DATABASE_URL: db.url,
          SCRATCH_DATABASE_URL: scratch.url,
          API_URL: up.base,
          WORKER_URL: `http://127.0.0.1:${metricsPort}`,
          TOKEN: token,
          CREDS: `${dir}/credentials`,
          ...telemetryEnv,
        };

        // `journalctl … -o cat` in the triage blocks reads the log of this live instance: the
        // same JSON lines a systemd journal holds, so the jq filters run against real output.
        const journal = `${dir}/journal.log`;
        await Deno.writeTextFile(
          state,
          `journalctl() { cat '${journal}'; }\n`,
        );
        await runShellBlocks(t, {
          file: "runbook.md",
          blocks,
          env,
          cwd: work,
          state,
          // The recovery checklist's "stable for 15 minutes", shortened: the same command and exit.
          rewrite: (text) => text.replaceAll("--watch 15m", "--watch 1s --every 250ms"),
          before: async () => {
            const text = up.logs.join("");
            await Deno.writeTextFile(journal, text.slice(0, text.lastIndexOf("\n") + 1));
          },
        });
      } finally {
        await up.stop();
        await otlp.close();
        await Deno.remove(dir, { recursive: true });
      }
    });
  });
});
