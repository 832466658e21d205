/** `sluice topic …` and the flow-control flags of `sluice jobs enqueue` / `queue create`. */
import { deepStrictEqual, equal } from "node:assert/strict";
import { withTestDatabase } from "../_helpers/db.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function sluice(url: string, ...args: string[]) {
  const env: Record<string, string> = { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" };
  for (const name of ["HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "main.ts", ...args],
    cwd: ROOT,
    env: { ...env, DATABASE_URL: url },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("sluice topic subscribe / publish / list / unsubscribe, and keyed, throttled enqueues", async () => {
  await withTestDatabase(async (db) => {
    for (const q of ["emails", "audit"]) {
      equal((await sluice(db.url, "queue", "create", q, "--key-concurrency", "2")).code, 0);
    }
    const sub = await sluice(db.url, "topic", "subscribe", "orders", "--queue", "emails");
    equal(sub.code, 0, sub.stderr);
    equal(sub.stdout.trim(), "subscribed queue emails to topic orders");
    await sluice(db.url, "topic", "subscribe", "orders", "--queue", "audit");
    const pub = await sluice(
      db.url,
      "topic",
      "publish",
      "orders",
      "--kind",
      "order.created",
      "--payload",
      '{"order":42}',
      "--concurrency-key",
      "tenant:7",
      "--json",
    );
    equal(pub.code, 0, pub.stderr);
    const results = JSON.parse(pub.stdout).results;
    deepStrictEqual(results.map((r: { job: { queue: string } }) => r.job.queue), [
      "audit",
      "emails",
    ]);
    equal(results[0].job.concurrencyKey, "tenant:7");
    const list = await sluice(db.url, "topic", "list", "--json");
    deepStrictEqual(
      JSON.parse(list.stdout).subscriptions.map((s: { queue: string }) => s.queue),
      ["audit", "emails"],
    );
    equal((await sluice(db.url, "topic", "unsubscribe", "orders", "--queue", "audit")).code, 0);
    const gone = await sluice(db.url, "topic", "unsubscribe", "orders", "--queue", "audit");
    equal(gone.code === 0, false);

    const throttled = [
      "jobs",
      "enqueue",
      "--kind",
      "k",
      "--throttle",
      "user:9",
      "--throttle-per",
      "1m",
    ];
    const first = await sluice(db.url, ...throttled);
    const second = await sluice(db.url, ...throttled);
    const id = /job (\d+)/.exec(first.stdout)?.[1];
    equal(second.stdout.trim().startsWith(`duplicate of job ${id} `), true, second.stdout);
    const half = await sluice(db.url, "jobs", "enqueue", "--kind", "k", "--debounce", "doc:3");
    equal(half.code, 2, half.stderr);
  });
});
