/**
 * The module structure as a test: no import circle among src/ files (type-only imports count
 * too: a circle of types is still two modules that cannot be read apart), and no import from a
 * lower layer to a higher one. The engine knows no HTTP, loop, schedule or environment variable.
 */
import { deepStrictEqual } from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Layers, lowest first. A module may import its own layer or a lower one. The first matching
 * prefix names a file's layer (more specific prefixes first).
 */
const LAYERS: { name: string; prefixes: string[] }[] = [
  {
    name: "base",
    prefixes: [
      "src/errors.ts",
      "src/version.ts",
      // Logging and the metric types: libraries every layer writes to, importing nothing.
      "src/obs/log.ts",
      "src/obs/metrics.ts",
      "src/obs/series.ts",
      "src/obs/prometheus.ts",
      // W3C trace context over the (no-op until registered) OpenTelemetry API: the engine's
      // enqueue, the worker and delivery all stamp spans.
      "src/obs/trace.ts",
    ],
  },
  { name: "db", prefixes: ["src/db/"] },
  { name: "engine", prefixes: ["src/queue/", "src/auth/", "src/backup/"] },
  { name: "config", prefixes: ["src/config/"] },
  { name: "delivery", prefixes: ["src/delivery/"] },
  { name: "worker", prefixes: ["src/worker/"] },
  { name: "obs", prefixes: ["src/obs/"] },
  { name: "maintenance", prefixes: ["src/maintenance/"] },
  { name: "entry", prefixes: ["src/api/", "src/cli/", "src/mod.ts"] },
  { name: "main", prefixes: ["main.ts"] },
];

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "../.."));

function layerOf(file: string): number {
  const i = LAYERS.findIndex((l) => l.prefixes.some((p) => file.startsWith(p)));
  if (i < 0) throw new Error(`${file} is in no layer: add it to LAYERS`);
  return i;
}

async function sourceFiles(): Promise<string[]> {
  const out = ["main.ts"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) out.push(path);
    }
  };
  await walk("src");
  return out.sort();
}

/** Relative .ts imports and re-exports of a file, as repository paths. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(ROOT, file));
  const found = new Set<string>();
  for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+\.ts)"/gms)) {
    found.add(relative(ROOT, normalize(join(ROOT, dirname(file), m[1]!))));
  }
  return [...found].sort();
}

async function graph(): Promise<Map<string, string[]>> {
  const g = new Map<string, string[]>();
  for (const f of await sourceFiles()) g.set(f, await importsOf(f));
  return g;
}

/** Strongly connected components of more than one file (Tarjan). */
function circles(g: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const part: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1) out.push(part.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("src/ has no import circle", async () => {
  deepStrictEqual(circles(await graph()), []);
});

Deno.test("src/ imports only from its own layer or a lower one", async () => {
  const upward: string[] = [];
  for (const [file, imports] of await graph()) {
    for (const target of imports) {
      if (layerOf(target) > layerOf(file)) {
        upward.push(
          `${file} (${LAYERS[layerOf(file)]!.name}) → ${target} (${LAYERS[layerOf(target)]!.name})`,
        );
      }
    }
  }
  deepStrictEqual(upward, []);
});

/**
 * Named apart from the layer order so it stays true whatever the layers above become (a config
 * directory, a new role): the engine's verbs are called by loops, schedules and routes, never the
 * other way round. Periodic services (their intervals and timers) live in src/maintenance/.
 */
const ENGINE = "src/queue/";
const ABOVE_ENGINE = ["src/maintenance/", "src/worker/", "src/api/", "src/cli/", "src/config"];

Deno.test("src/queue imports no loop, schedule, HTTP route, command or configuration module", async () => {
  const found: string[] = [];
  for (const [file, imports] of await graph()) {
    if (!file.startsWith(ENGINE)) continue;
    for (const t of imports) {
      if (ABOVE_ENGINE.some((p) => t.startsWith(p))) found.push(`${file} → ${t}`);
    }
  }
  deepStrictEqual(found, []);
});

Deno.test("src/queue sets no timer and reads no environment variable", async () => {
  const found: string[] = [];
  for (const file of await sourceFiles()) {
    if (!file.startsWith(ENGINE)) continue;
    const text = await Deno.readTextFile(join(ROOT, file));
    for (const m of text.matchAll(/\b(setTimeout|setInterval|Deno\.env)\b/g)) {
      found.push(`${file}: ${m[1]}`);
    }
  }
  deepStrictEqual(found, []);
});

Deno.test("the import walk sees real edges (a guard against a regex that matches nothing)", async () => {
  const g = await graph();
  deepStrictEqual(g.get("src/queue/engine.ts")?.includes("src/queue/lease.ts"), true);
  deepStrictEqual(circles(new Map([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]])), [["a", "b"]]);
});
