/**
 * runbook.md is executable: every fenced ```sh block runs, in order, in bash against a live
 * `sluice up` (API + worker metrics port + maintenance) on a test database, with `sluice` on
 * PATH (a wrapper around `deno run -A main.ts`) and the variables the runbook's conventions
 * block names (API_URL, WORKER_URL, TOKEN, DATABASE_URL, SCRATCH_DATABASE_URL, CREDS, QUEUE).
 * A block must exit 0: expected refusals are checked explicitly in the runbook (`refuses CODE
 * cmd`, or `| grep CODE` on a curl answer). Variables and functions a block defines carry over
 * to the next block, as they would in the operator's shell.
 *
 * Blocks in any other language (```console for systemctl, docker compose, journalctl, pg
 * tools against production) are not run here; each `sluice …`, `curl …`, `systemctl …` or
 * `docker compose …` line in them must match an entry of COVERED_ELSEWHERE, which names the
 * test that covers it. And every `sluice <command> <subcommand>` and every route written in the
 * prose must be run by some block or covered elsewhere: a runbook line that stops working, or
 * a procedure that mentions something no test runs, fails this test.
 */
import { equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { generateToken } from "../../src/auth/tokens.ts";
import { createTestDatabase } from "../_helpers/db.ts";
import { startSluice } from "../_helpers/sluice_process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RUNBOOK = `${ROOT}runbook.md`;
const BLOCK_TIMEOUT_MS = 60_000;

/**
 * Lines of non-executed blocks, and prose mentions, that other tests cover. `test` must exist
 * and contain `marker`, so an entry cannot outlive the test it points to.
 */
const COVERED_ELSEWHERE: { pattern: RegExp; test: string; marker: string }[] = [
  {
    pattern: /^(sudo )?systemctl /,
    test: "tests/cli/systemd_test.ts",
    marker: "systemd-analyze",
  },
  { pattern: /^(sudo )?sluice systemd\b/, test: "tests/cli/systemd_test.ts", marker: "systemd" },
  { pattern: /^docker compose /, test: "tests/appliance/compose_test.ts", marker: "compose" },
  { pattern: /^sluice (api|worker|up)\b/, test: "tests/e2e/up_e2e_test.ts", marker: "up" },
  {
    pattern: /^sluice restore .*--force-replace/,
    test: "tests/backup/cli_test.ts",
    marker: "--force-replace",
  },
];

interface Block {
  lang: string;
  line: number;
  text: string;
}

/** Fenced blocks, also indented ones inside list items (the indent is removed). */
function fencedBlocks(md: string): Block[] {
  const blocks: Block[] = [];
  const lines = md.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^ *```\s*$/.test(lines[i]!); i++) {
      body.push(lines[i]!.slice(Math.min(indent, lines[i]!.search(/\S|$/))));
    }
    blocks.push({ lang: open[2]!, line: start + 1, text: body.join("\n") });
  }
  return blocks;
}

/** Prose = the runbook without its fenced blocks. */
function prose(md: string): string {
  return md.replace(/^ *```[^\n]*\n[\s\S]*?^ *```\s*$/gm, "");
}

/** Command lines of a block: continuation lines joined, comments and prompts dropped. */
function commandLines(text: string): string[] {
  return text.replace(/\\\n\s*/g, " ").split("\n")
    .map((l) => l.replace(/^\$ /, "").replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function coveredElsewhere(line: string) {
  return COVERED_ELSEWHERE.find((c) => c.pattern.test(line));
}

/**
 * The shape of the `sluice` command starting at `at`: its subcommand words and its flag names
 * (`sluice backup --out - | ssh …` → `backup --out`). Two lines of one shape run the same code
 * path with other values.
 */
function sluiceShape(line: string, at: number): string {
  const words: string[] = [];
  const flags: string[] = [];
  for (const tok of line.slice(at + "sluice ".length).split(/\s+/)) {
    if (/^(\||>|<|&&|;|\)|\|\|)/.test(tok)) break;
    if (tok.startsWith("--")) flags.push(tok.split("=")[0]!);
    else if (flags.length === 0 && /^[a-z][a-z-]*$/.test(tok)) words.push(tok);
  }
  return [...words, ...flags.sort()].join(" ");
}

function sluiceShapes(line: string): string[] {
  return [...line.matchAll(/(?:^|[\s(|;&])sluice (?=\S)/g)].map((m) =>
    sluiceShape(line, m.index! + m[0].indexOf("sluice"))
  );
}

/** `/v1/jobs/:id/replay` → a regex matching `$API_URL/v1/jobs/$JOB_ID/replay` in a curl line. */
function routeRegex(path: string): RegExp {
  const parts = path.replace(/[?#].*$/, "").split("/").map((seg) =>
    /^(:|\{|<)/.test(seg) ? "[^/?\\s\"']+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`\\$\\{?(API_URL|WORKER_URL)\\}?${parts.join("/")}(?=[?"'\\s]|$)`);
}

async function writeWrapper(dir: string): Promise<string> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/sluice`,
    `#!/bin/sh\nexec "${Deno.execPath()}" run -A --quiet "${ROOT}main.ts" "$@"\n`,
  );
  await Deno.chmod(`${bin}/sluice`, 0o755);
  return bin;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

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
  const executedShapes = new Set(executed.flatMap(sluiceShapes));

  await t.step("lines of other blocks are covered elsewhere", async () => {
    const uncovered: string[] = [];
    for (const b of blocks.filter((b) => b.lang !== "sh")) {
      for (const line of commandLines(b.text)) {
        const cmd = line.replace(/^(\w+=\S+ )+/, "");
        if (!/^(sudo )?(sluice|curl|systemctl|docker compose) /.test(cmd)) continue;
        const ran = cmd.startsWith("sluice ") && executedShapes.has(sluiceShape(cmd, 0));
        if (!ran && !coveredElsewhere(cmd)) uncovered.push(`runbook.md:${b.line}: ${line}`);
      }
    }
    assert(
      uncovered.length === 0,
      `lines neither run here nor listed in COVERED_ELSEWHERE:\n${uncovered.join("\n")}`,
    );
    for (const c of COVERED_ELSEWHERE) {
      const text = await Deno.readTextFile(`${ROOT}${c.test}`);
      assert(text.includes(c.marker), `${c.test} does not mention '${c.marker}'`);
    }
  });

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

  const db = await createTestDatabase();
  const scratch = await createTestDatabase();
  const token = generateToken();
  const metricsPort = freePort();
  const dir = await Deno.makeTempDir({ prefix: "sluice-runbook-" });
  const up = await startSluice(db, {
    token,
    env: {
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
    await Deno.writeTextFile(state, "");
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
    };

    let failed = false;
    for (const b of runnable) {
      const title = `runbook.md:${b.line}: ${commandLines(b.text)[0] ?? ""}`.slice(0, 110);
      // After a failure the later blocks would fail for its sake: report the first only.
      const passed: boolean = await t.step({
        name: title,
        ignore: failed,
        fn: async () => {
          // Carry exported variables (set -a exports every assignment) and functions forward;
          // read-only and per-shell variables stay behind.
          const script = `set -euo pipefail\nset -a\nsource '${state}'\n${b.text}\n` +
            `set +a\n{ export -p | grep -vE '^declare -[a-zA-Z]*r|^declare -x (PWD|OLDPWD|SHLVL|_)='; ` +
            `declare -f; } > '${state}.next'\nmv '${state}.next' '${state}'\n`;
          const out = await new Deno.Command("bash", {
            args: ["-c", script],
            cwd: work,
            env,
            clearEnv: true,
            stdout: "piped",
            stderr: "piped",
            signal: AbortSignal.timeout(BLOCK_TIMEOUT_MS),
          }).output();
          const d = new TextDecoder();
          equal(
            out.code,
            0,
            `block at runbook.md:${b.line} exited ${out.code}\n--- block\n${b.text}\n--- stdout\n` +
              `${d.decode(out.stdout)}\n--- stderr\n${d.decode(out.stderr)}`,
          );
        },
      });
      failed ||= !passed;
    }
  } finally {
    await up.stop();
    await db.drop();
    await scratch.drop();
    await Deno.remove(dir, { recursive: true });
  }
});
