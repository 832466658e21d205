/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20, what = "condition" }: {
    timeoutMs?: number;
    intervalMs?: number;
    /** What was awaited; a function is asked at the timeout, so it can say what it saw. */
    what?: string | (() => string);
  } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) {
      const said = typeof what === "function" ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${said}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
