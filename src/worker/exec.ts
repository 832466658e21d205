import type { LeasedJob } from "../queue/job.ts";
import { JobFailure } from "./failure.ts";

const MAX_CAPTURE = 64 * 1024;
/** EX_TEMPFAIL from sysexits.h: "try again later". */
export const EXIT_RETRY = 75;

/**
 * Runs the queue's command with the job JSON on stdin. Exit 0 succeeds (stdout, if JSON, is the
 * result); exit 75 asks for a retry; any other exit fails the attempt with the tail of stderr.
 * The process is killed (SIGTERM, then SIGKILL after 2 s) when the signal aborts.
 */
export async function runExec(
  command: string | string[],
  job: LeasedJob,
  signal: AbortSignal,
): Promise<unknown> {
  const argv = typeof command === "string" ? ["/bin/sh", "-c", command] : command;
  const [program, ...args] = argv;
  if (!program) {
    throw new JobFailure("EXEC_MISCONFIGURED", "the queue's exec command is empty", {
      retryable: false,
    });
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: {
        SLUICE_JOB_ID: job.id,
        SLUICE_ATTEMPT: String(job.attempt),
        SLUICE_QUEUE: job.queue,
        SLUICE_KIND: job.kind,
      },
    }).spawn();
  } catch (e) {
    throw new JobFailure(
      "EXEC_SPAWN_FAILED",
      `cannot start ${JSON.stringify(program)}: ${(e as Error).message}`,
    );
  }
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    try {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 2000);
    } catch { /* already gone */ }
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const body = JSON.stringify({
    id: job.id,
    queue: job.queue,
    kind: job.kind,
    payload: job.payload,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    createdAt: job.createdAt.toISOString(),
  });
  const writer = child.stdin.getWriter();
  // A command that never reads stdin closes it early; that is its business, not a failure.
  await writer.write(new TextEncoder().encode(body)).catch(() => {});
  await writer.close().catch(() => {});
  const [status, out, err] = await Promise.all([
    child.status,
    capture(child.stdout),
    capture(child.stderr),
  ]);
  signal.removeEventListener("abort", onAbort);
  clearTimeout(killTimer);
  if (signal.aborted) throw signal.reason;
  if (status.success) {
    const text = out.trim();
    if (text === "") return null;
    try {
      return JSON.parse(text);
    } catch {
      return { stdout: text };
    }
  }
  const tail = err.trim().slice(-2000) || out.trim().slice(-2000);
  if (status.code === EXIT_RETRY) {
    throw new JobFailure("EXEC_TEMPFAIL", tail || "command exited 75 (retry later)");
  }
  if (status.signal) {
    throw new JobFailure(
      "EXEC_SIGNAL",
      `command was killed by ${status.signal}${tail ? `: ${tail}` : ""}`,
    );
  }
  throw new JobFailure(`EXEC_EXIT`, `command exited ${status.code}${tail ? `: ${tail}` : ""}`);
}

async function capture(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size < MAX_CAPTURE) chunks.push(chunk.subarray(0, MAX_CAPTURE - size));
    size += chunk.length;
  }
  return new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
