import { deepStrictEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { backupDatabase } from "../../src/backup/backup.ts";
import { type ArchiveHeader, readArchive, verifyArchive } from "../../src/backup/archive.ts";
import { restoreDatabase } from "../../src/backup/restore.ts";
import { MIGRATIONS } from "../../src/db/migrations.ts";
import { isSluiceError } from "../../src/errors.ts";
import { openDatabase } from "../../src/db/connect.ts";
import { enqueueJob, enqueueJobs } from "../../src/queue/enqueue.ts";
import { leaseJobs } from "../../src/queue/lease.ts";
import { handlerMap, sleep } from "../../src/worker/handlers.ts";
import { Worker } from "../../src/worker/worker.ts";
import { type Sql, withTestDatabase } from "../_helpers/db.ts";
import { waitFor } from "../_helpers/wait.ts";

const dir = await Deno.makeTempDir({ prefix: "sluice-backup-test-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* best effort */ }
});

async function backupTo(sql: Sql, name: string) {
  const file = `${dir}/${name}`;
  const f = await Deno.open(file, { write: true, create: true, truncate: true });
  const result = await backupDatabase(sql, f.writable);
  return { file, ...result };
}

async function restoreFrom(sql: Sql, file: string, opts: Parameters<typeof restoreDatabase>[2]) {
  const f = await Deno.open(file, { read: true });
  return await restoreDatabase(sql, f.readable, { source: file, ...opts });
}

/** Every table's rows as COPY text lines, read back from an archive. */
async function archiveRows(file: string) {
  const f = await Deno.open(file, { read: true });
  const rows = new Map<string, string[]>();
  let header: ArchiveHeader | null = null;
  const dec = new TextDecoder();
  const partial = new Map<string, string>();
  for await (const e of readArchive(f.readable, file)) {
    if (e.type === "header") header = e.header;
    if (e.type === "data") partial.set(e.table, (partial.get(e.table) ?? "") + dec.decode(e.chunk));
    if (e.type === "tableEnd") {
      const text = partial.get(e.summary.name) ?? "";
      rows.set(e.summary.name, text === "" ? [] : text.slice(0, -1).split("\n"));
    }
  }
  return { header: header!, rows };
}

async function counts(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }[]>`
    SELECT state, count(*)::int AS n FROM sluice.jobs GROUP BY state ORDER BY state`;
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

Deno.test("backupDatabase() under a concurrent workload restores to identical counts and checksums", async () => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      const held = Promise.withResolvers<void>();
      const w = new Worker({
        sql: source.sql,
        workerId: "backup-test",
        queues: null,
        concurrency: 8,
        leaseMs: 30_000,
        pollMs: 100,
        shutdownGraceMs: 2_000,
        handlers: handlerMap({
          "test.slow": (_p, { signal }) => sleep(200, signal),
          // Holds its slot until the backup is written, so the snapshot surely has running jobs.
          "test.hold": () => held.promise,
        }),
      });
      let enqueuing = true;
      const enqueuer = (async () => {
        while (enqueuing) {
          await enqueueJobs(source.sql, [
            ...Array.from({ length: 40 }, (_, i) => ({ kind: "sluice.noop", payload: { i } })),
            ...Array.from({ length: 4 }, () => ({ kind: "test.slow", tags: ["slow"] })),
          ]);
          await sleep(10); // the scenario: a steady stream of writes during the backup
        }
      })();
      try {
        await enqueueJobs(
          source.sql,
          Array.from({ length: 500 }, (_, i) => ({
            kind: "sluice.noop",
            payload: { i, text: "line\nbreak\ttab \\ back" },
          })),
        );
        await enqueueJobs(source.sql, Array.from({ length: 3 }, () => ({ kind: "test.hold" })));
        await w.start();
        await waitFor(
          async () =>
            (await source
              .sql`SELECT 1 FROM sluice.jobs WHERE kind = 'test.hold' AND state = 'running'`)
              .count === 3,
          { what: "held jobs running", timeoutMs: 30_000 },
        );
        const b = await backupTo(source.sql, "live.backup");
        held.resolve();
        enqueuing = false;
        await enqueuer;
        await w.stop();

        const verified = await verifyArchive((await Deno.open(b.file)).readable, b.file);
        deepStrictEqual(verified.trailer, b.trailer);
        const jobs = b.trailer.tables.find((t) => t.name === "jobs")!;
        assert(jobs.rows >= 500, `jobs in backup: ${jobs.rows}`);
        equal(b.header.schemaVersion, MIGRATIONS.at(-1)!.version);

        const r = await restoreFrom(target.sql, b.file, {});
        for (const t of r.trailer.tables) {
          const [{ n }] = await target.sql<[{ n: number }]>`
            SELECT count(*)::int AS n FROM ${target.sql(`sluice.${t.name}`)}`;
          equal(n, t.rows, `rows of ${t.name}`);
        }

        // A backup of the restored database holds the same data: identical checksums, except
        // for the running jobs, which the restore deliberately made available again.
        const again = await backupTo(target.sql, "restored.backup");
        const before = await archiveRows(b.file);
        const after = await archiveRows(again.file);
        const cols = before.header.tables.find((t) => t.name === "jobs")!.columns;
        const stateAt = cols.indexOf("state");
        let running = 0;
        const restoredJobs = new Map(after.rows.get("jobs")!.map((l) => [l.split("\t")[0], l]));
        for (const line of before.rows.get("jobs")!) {
          const fields = line.split("\t");
          const restored = restoredJobs.get(fields[0]);
          assert(restored, `job ${fields[0]} restored`);
          if (fields[stateAt] === "running") {
            running++;
            equal(restored.split("\t")[stateAt], "available");
          } else {
            equal(restored, line);
          }
        }
        equal(r.releasedJobs, running);
        assert(running > 0, "the backup caught running jobs");
        for (const t of b.trailer.tables) {
          if (t.name === "jobs") continue;
          deepStrictEqual(again.trailer.tables.find((x) => x.name === t.name), t);
        }

        const [trigger] = await target.sql<[{ tgenabled: string }]>`
          SELECT tgenabled FROM pg_trigger WHERE tgname = 'jobs_notify_inserted'`;
        equal(trigger.tgenabled, "O", "user triggers are enabled again after loading");

        // Ids and fencing tokens continue past everything restored.
        const [ids] = await target.sql<[{ max: string; next: string; token: string | null }]>`
          SELECT (SELECT max(id) FROM sluice.jobs) AS max,
            nextval(pg_get_serial_sequence('sluice.jobs', 'id')) AS next,
            (SELECT max(lease_token) FROM sluice.jobs) AS token`;
        assert(BigInt(ids.next) > BigInt(ids.max));
        // Tokens are epoch * 2^32 + n (src/queue/lease.ts): the first token of the next epoch.
        const [tok] = await target.sql<[{ next: string }]>`
          SELECT (nextval('sluice.lease_epoch_seq') * 4294967296)::text AS next`;
        const tokenAt = cols.indexOf("lease_token");
        const archivedTokens = before.rows.get("jobs")!.map((l) => l.split("\t")[tokenAt])
          .filter((t) => t !== "\\N").map((t) => BigInt(t!));
        const maxToken = archivedTokens.reduce((a, b) => a > b ? a : b, 0n);
        assert(maxToken > 0n);
        assert(BigInt(tok.next) > maxToken, `${tok.next} > ${maxToken}`);
      } finally {
        held.resolve();
        enqueuing = false;
        await enqueuer.catch(() => {});
        await w.stop();
      }
    });
  });
});

Deno.test("restoreDatabase() rejects a corrupted or truncated archive and leaves the target as it was", async () => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      await enqueueJobs(
        source.sql,
        Array.from({ length: 3_000 }, (_, i) => ({ kind: "sluice.noop", payload: { i } })),
      );
      await enqueueJobs(target.sql, [{ kind: "keep.me" }, { kind: "keep.me" }]);
      const b = await backupTo(source.sql, "good.backup");
      const bytes = await Deno.readFile(b.file);

      const flipped = bytes.slice();
      flipped[Math.floor(flipped.length / 2)]! ^= 0x40;
      await Deno.writeFile(`${dir}/flipped.backup`, flipped);
      await Deno.writeFile(`${dir}/truncated.backup`, bytes.slice(0, bytes.length - 200));
      await Deno.writeFile(`${dir}/not-a-backup`, new TextEncoder().encode("hello"));

      for (const name of ["flipped.backup", "truncated.backup", "not-a-backup"]) {
        const file = `${dir}/${name}`;
        const isInvalid = (e: unknown) => {
          assert(isSluiceError(e, "ARCHIVE_INVALID"), `${name}: ${e}`);
          assert(e.message.startsWith(`Backup '${file}' is not usable: `), e.message);
          return true;
        };
        await rejects(verifyArchive((await Deno.open(file)).readable, file), isInvalid);
        await rejects(restoreFrom(target.sql, file, { forceReplace: true }), isInvalid);
        // The target keeps its own data and schema.
        deepStrictEqual(await counts(target.sql), { available: 2 });
        const [{ v }] = await target.sql<[{ v: number }]>`
          SELECT max(version)::int AS v FROM sluice.schema_migrations`;
        equal(v, MIGRATIONS.at(-1)!.version);
      }
    });
  });
});

Deno.test("restoreDatabase() refuses a database with Sluice data unless forced, and says what it replaces", async () => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      await enqueueJobs(source.sql, [{ kind: "from.backup" }]);
      await enqueueJobs(target.sql, [{ kind: "already.here" }, { kind: "already.here" }]);
      const b = await backupTo(source.sql, "small.backup");
      await rejects(restoreFrom(target.sql, b.file, {}), (e: unknown) => {
        assert(isSluiceError(e, "RESTORE_TARGET_NOT_EMPTY"), String(e));
        assert(e.message.includes("jobs (2 rows)"), e.message);
        return true;
      });
      deepStrictEqual(await counts(target.sql), { available: 2 });

      let told: unknown = null;
      const r = await restoreFrom(target.sql, b.file, {
        forceReplace: true,
        onReplace: (x) => told = x,
      });
      deepStrictEqual(told, {
        schemaVersion: MIGRATIONS.at(-1)!.version,
        tables: [
          { table: "jobs", rows: 2 },
          { table: "queues", rows: 1 },
          { table: "schema_migrations", rows: MIGRATIONS.length },
        ],
      });
      equal(r.replaced.length, 3);
      const kinds = await target.sql<{ kind: string }[]>`SELECT kind FROM sluice.jobs`;
      deepStrictEqual(kinds.map((k) => k.kind), ["from.backup"]);
    });
  });
});

Deno.test("restoreDatabase() applies the migrations newer than an older backup", async () => {
  await withTestDatabase(async (source) => {
    await withTestDatabase(async (target) => {
      await enqueueJobs(source.sql, [{ kind: "old.job" }]);
      const b = await backupTo(source.sql, "old.backup");
      const next = MIGRATIONS.at(-1)!.version + 1;
      const newer = [
        ...MIGRATIONS,
        {
          version: next,
          name: "add_test_note",
          sql: `ALTER TABLE sluice.jobs ADD COLUMN note text NOT NULL DEFAULT 'migrated';
                CREATE TABLE sluice.test_things (id bigint GENERATED ALWAYS AS IDENTITY);`,
        },
      ];
      const r = await restoreFrom(target.sql, b.file, { migrations: newer });
      deepStrictEqual(r.migrated, [{ version: next, name: "add_test_note" }]);
      const rows = await target.sql<{ kind: string; note: string }[]>`
        SELECT kind, note FROM sluice.jobs`;
      deepStrictEqual([...rows], [{ kind: "old.job", note: "migrated" }]);
      const versions = await target.sql<{ version: number }[]>`
        SELECT version FROM sluice.schema_migrations ORDER BY version`;
      equal(versions.at(-1)!.version, next);

      // And an archive newer than the build is refused, not half-restored.
      await rejects(
        restoreFrom(target.sql, b.file, { migrations: [], forceReplace: true }),
        (e: unknown) => isSluiceError(e, "ARCHIVE_TOO_NEW"),
      );
      equal((await target.sql`SELECT 1 FROM sluice.test_things`).count, 0);
    }, { empty: true });
  });
});

Deno.test("restoreDatabase() over a newer database never issues again an id or fencing epoch it had handed out", async () => {
  await withTestDatabase(async (db) => {
    await enqueueJobs(db.sql, [{ kind: "in.backup" }]);
    const b = await backupTo(db.sql, "older.backup");
    // After the backup: more jobs (ids up to `lastId`) and leases (epochs up to `lastEpoch`),
    // which the restore of the older backup deletes.
    const later = await enqueueJobs(db.sql, Array.from({ length: 12 }, () => ({ kind: "later" })));
    const lastId = BigInt(later.at(-1)!.job.id);
    const other = await openDatabase({ databaseUrl: db.url, dataDir: "", max: 1 });
    try {
      await leaseJobs(other, { queue: "default", workerId: "w", max: 3, leaseMs: 30_000 });
    } finally {
      await other.end();
    }
    const [{ epoch }] = await db.sql<[{ epoch: string }]>`
      SELECT last_value::text AS epoch FROM sluice.lease_epoch_seq`;
    await restoreFrom(db.sql, b.file, { forceReplace: true });
    const kinds = await db.sql<{ kind: string }[]>`SELECT kind FROM sluice.jobs`;
    deepStrictEqual(kinds.map((k) => k.kind), ["in.backup"]);
    const { job } = await enqueueJob(db.sql, { kind: "after.restore" });
    assert(BigInt(job.id) > lastId, `job id ${job.id} was handed out before the restore`);
    const [{ next }] = await db.sql<[{ next: string }]>`
      SELECT nextval('sluice.lease_epoch_seq')::text AS next`;
    assert(BigInt(next) > BigInt(epoch), `epoch ${next} was handed out before the restore`);
  });
});
