-- sluice:no-transaction
-- Idempotency keys per owner (issue #14.1): dedup was per (queue, key) whoever enqueued, so a
-- producer could read another's job through a duplicate answer, or pre-claim its keys. A key now
-- lives in its owner's scope: `key_owner` is the producer token that enqueued the job, '' for
-- admin tokens and library calls without an owner (one shared scope). '' rather than NULL so the
-- unique index treats the shared scope as one value and ON CONFLICT names plain columns.
--
-- Why outside a transaction: the new unique index is built CONCURRENTLY, so enqueues, leases and
-- completions go on while it builds on a big live table (a plain CREATE INDEX blocks every write
-- to sluice.jobs until it finishes). See src/db/migrate.ts for the rules of such a file: one
-- statement per `;` line end, each safe to run again after a crash.
--
-- Adding a column with a constant default is a catalog change (no table rewrite); it takes
-- ACCESS EXCLUSIVE on sluice.jobs only for that instant.
ALTER TABLE sluice.jobs ADD COLUMN IF NOT EXISTS key_owner text NOT NULL DEFAULT '';

-- The archive keeps the same columns (src/maintenance/archiver.ts moves rows by column name).
ALTER TABLE sluice.jobs_archive ADD COLUMN IF NOT EXISTS key_owner text NOT NULL DEFAULT '';

-- A failed earlier run leaves an INVALID index of this name behind: drop it, then build.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_idempotency_owner_idx;

CREATE UNIQUE INDEX CONCURRENTLY jobs_idempotency_owner_idx
  ON sluice.jobs (queue, key_owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retrying');

-- Until this runs, the old index still makes a key unique per queue across owners.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_idempotency_idx;

-- A schedule that cannot fire (issue #14.5) is marked instead of rolling back every schedule's
-- pass: why it failed last, and since when it has failed without a success in between.
ALTER TABLE sluice.schedules ADD COLUMN IF NOT EXISTS last_error text;

ALTER TABLE sluice.schedules ADD COLUMN IF NOT EXISTS failing_since timestamptz;
