/**
 * The machinery that makes the docs executable (tests/e2e/runbook_test.ts for runbook.md,
 * tests/e2e/readme_test.ts for README.md): fenced blocks, their command lines, the shapes of
 * `sluice` commands, and a runner that executes every ```sh block, in order, in bash, carrying
 * exported variables, arrays and functions from one block to the next as an operator's shell
 * would. Blocks in any other language are not run; each `sluice …`, `curl …`, `systemctl …` or
 * `docker compose …` line in them must match COVERED_ELSEWHERE (the test that covers it) or be
 * run, in the same shape, by an sh block.
 */
import { equal, ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BLOCK_TIMEOUT_MS = 60_000;

/**
 * Lines of non-executed blocks, and prose mentions, that other tests cover. `test` must exist
 * and contain `marker`, so an entry cannot outlive the test it points to.
 */
export const COVERED_ELSEWHERE: { pattern: RegExp; test: string; marker: string }[] = [
  {
    pattern: /^(sudo )?systemctl /,
    test: "tests/cli/systemd_test.ts",
    marker: "systemd-analyze",
  },
  { pattern: /^(sudo )?sluice systemd\b/, test: "tests/cli/systemd_test.ts", marker: "systemd" },
  { pattern: /^docker compose /, test: "tests/appliance/compose_test.ts", marker: "compose" },
  { pattern: /^sluice (api|worker|up)\b/, test: "tests/e2e/up_e2e_test.ts", marker: "up" },
  // Needs an issuer and a token it signed: the test runs a local issuer.
  { pattern: /^sluice identity check\b/, test: "tests/identity/cli_test.ts", marker: "check" },
  {
    pattern: /^sluice identity rotate-signing-key .*--compromised/,
    test: "tests/identity/push_token_test.ts",
    marker: "compromised: true",
  },
  {
    pattern: /^curl .*\$ID_TOKEN/,
    test: "tests/identity/api_id_token_test.ts",
    marker: "authorization: `Bearer ${jwt}`",
  },
  {
    pattern: /^sluice restore .*--force-replace/,
    test: "tests/backup/cli_test.ts",
    marker: "--force-replace",
  },
];

export interface Block {
  lang: string;
  line: number;
  text: string;
}

/** Fenced blocks, also indented ones inside list items (the indent is removed). */
export function fencedBlocks(md: string): Block[] {
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
export function prose(md: string): string {
  return md.replace(/^ *```[^\n]*\n[\s\S]*?^ *```\s*$/gm, "");
}

/** Command lines of a block: continuation lines joined, comments and prompts dropped. */
export function commandLines(text: string): string[] {
  return text.replace(/\\\n\s*/g, " ").split("\n")
    .map((l) => l.replace(/^\$ /, "").replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

export function coveredElsewhere(line: string) {
  return COVERED_ELSEWHERE.find((c) => c.pattern.test(line));
}

/**
 * The shape of the `sluice` command starting at `at`: its subcommand words and its flag names
 * (`sluice backup --out - | ssh …` → `backup --out`). Two lines of one shape run the same code
 * path with other values.
 */
export function sluiceShape(line: string, at: number): string {
  const words: string[] = [];
  const flags: string[] = [];
  for (const tok of line.slice(at + "sluice ".length).split(/\s+/)) {
    if (/^(\||>|<|&&|;|\)|\|\|)/.test(tok)) break;
    if (tok.startsWith("--")) flags.push(tok.split("=")[0]!);
    else if (flags.length === 0 && /^[a-z][a-z-]*$/.test(tok)) words.push(tok);
  }
  return [...words, ...flags.sort()].join(" ");
}

export function sluiceShapes(line: string): string[] {
  return [...line.matchAll(/(?:^|[\s(|;&])sluice (?=\S)/g)].map((m) =>
    sluiceShape(line, m.index! + m[0].indexOf("sluice"))
  );
}

/** `/v1/jobs/:id/replay` → a regex matching `$API_URL/v1/jobs/$JOB_ID/replay` in a curl line. */
export function routeRegex(path: string): RegExp {
  const parts = path.replace(/[?#].*$/, "").split("/").map((seg) =>
    /^(:|\{|<)/.test(seg) ? "[^/?\\s\"']+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`\\$\\{?(API_URL|WORKER_URL)\\}?${parts.join("/")}(?=[?"'\\s]|$)`);
}

export async function writeWrapper(dir: string): Promise<string> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/sluice`,
    `#!/bin/sh\nexec "${Deno.execPath()}" run -A --quiet "${ROOT}main.ts" "$@"\n`,
  );
  await Deno.chmod(`${bin}/sluice`, 0o755);
  return bin;
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface DocRun {
  /** The file's name as messages show it, e.g. `runbook.md`. */
  file: string;
  blocks: Block[];
  env: Record<string, string>;
  cwd: string;
  /** Scratch file that carries the shell's state from block to block. */
  state: string;
  /** What a block's text becomes before it runs (placeholders → the live instance's values). */
  rewrite?: (text: string) => string;
  /** Runs before each block (e.g. to write the log the `journalctl` stand-in prints). */
  before?: () => Promise<void>;
}

/** The ```sh blocks of `run.blocks`, one test step each; after a failure the rest are skipped. */
export async function runShellBlocks(t: Deno.TestContext, run: DocRun): Promise<void> {
  let failed = false;
  for (const b of run.blocks.filter((b) => b.lang === "sh")) {
    const title = `${run.file}:${b.line}: ${commandLines(b.text)[0] ?? ""}`.slice(0, 110);
    const text = run.rewrite ? run.rewrite(b.text) : b.text;
    // After a failure the later blocks would fail for its sake: report the first only.
    const passed: boolean = await t.step({
      name: title,
      ignore: failed,
      fn: async () => {
        await run.before?.();
        // Carry exported variables (set -a exports every assignment), indexed arrays (bash
        // cannot export them) and functions forward; read-only and per-shell ones stay behind.
        const state = run.state;
        const script = `set -euo pipefail\nset -a\nsource '${state}'\n${text}\n` +
          `set +a\n{ export -p | grep -vE '^declare -[a-zA-Z]*r|^declare -x (PWD|OLDPWD|SHLVL|_)='; ` +
          `declare -p | awk '/^declare -a / && !/^declare -a (BASH_|FUNCNAME|GROUPS|PIPESTATUS|DIRSTACK)/'; ` +
          `declare -f; } > '${state}.next'\nmv '${state}.next' '${state}'\n`;
        const out = await new Deno.Command("bash", {
          args: ["-c", script],
          cwd: run.cwd,
          env: run.env,
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(BLOCK_TIMEOUT_MS),
        }).output();
        const d = new TextDecoder();
        equal(
          out.code,
          0,
          `block at ${run.file}:${b.line} exited ${out.code}\n--- block\n${text}\n--- stdout\n` +
            `${d.decode(out.stdout)}\n--- stderr\n${d.decode(out.stderr)}`,
        );
      },
    });
    failed ||= !passed;
  }
}

/**
 * Lines of the other blocks are run by an sh block in the same shape (of this file or of
 * `alsoRun`, blocks another doc test executes), or covered elsewhere.
 */
export async function assertOtherBlocksCovered(
  file: string,
  blocks: Block[],
  alsoRun: Block[] = [],
): Promise<void> {
  const executed = [...blocks, ...alsoRun].filter((b) => b.lang === "sh")
    .flatMap((b) => commandLines(b.text));
  const executedShapes = new Set(executed.flatMap(sluiceShapes));
  const uncovered: string[] = [];
  for (const b of blocks.filter((b) => b.lang !== "sh")) {
    for (const line of commandLines(b.text)) {
      const cmd = line.replace(/^(\w+=\S+ )+/, "");
      if (!/^(sudo )?(sluice|curl|systemctl|docker compose) /.test(cmd)) continue;
      const ran = cmd.startsWith("sluice ") && executedShapes.has(sluiceShape(cmd, 0));
      if (!ran && !coveredElsewhere(cmd)) uncovered.push(`${file}:${b.line}: ${line}`);
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
}
