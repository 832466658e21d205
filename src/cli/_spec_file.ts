/** A JSON document given as `--file PATH` (or `-` for standard input), for workflow and batch. */
import { UsageError } from "./_command.ts";

export async function readSpecFile(path: string | undefined): Promise<Record<string, unknown>> {
  if (!path) throw new UsageError("--file is required (a JSON document, or - for stdin)");
  const text = path === "-"
    ? await new Response(Deno.stdin.readable).text()
    : await Deno.readTextFile(path).catch((e) => {
      throw new UsageError(`--file: cannot read '${path}': ${e instanceof Error ? e.message : e}`);
    });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--file: '${path}' is not JSON: ${e instanceof Error ? e.message : e}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`--file: '${path}' must hold a JSON object`);
  }
  return doc as Record<string, unknown>;
}
