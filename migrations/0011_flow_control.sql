-- sluice:no-transaction
-- Flow control (issue #16): keyed concurrency, throttle, debounce and topics. Design and the
-- reasons it is safe under concurrency: docs/flow-control.md.
--
-- Outside a transaction for the same reason as 0008: the new partial indexes on sluice.jobs are
-- built CONCURRENTLY, so enqueues, leases and completions go on while they build. Every
-- statement is safe to run again after a crash (src/db/migrate.ts).
--
--   concurrency_key  the job's key for the queue's keyConcurrency limit (at most N running per
--                    key); NULL for a job without one, which only the queue-wide limits govern
--   debounce_key     the key of a debounced job: while one such job of (queue, owner, key) is
--                    still waiting (scheduled or available), a new enqueue with the key replaces
--                    its payload and pushes its run time back instead of adding a job
ALTER TABLE sluice.jobs ADD COLUMN IF NOT EXISTS concurrency_key text;

ALTER TABLE sluice.jobs ADD COLUMN IF NOT EXISTS debounce_key text;

-- The archive keeps the same columns (src/maintenance/archiver.ts moves rows by column name).
ALTER TABLE sluice.jobs_archive ADD COLUMN IF NOT EXISTS concurrency_key text;

ALTER TABLE sluice.jobs_archive ADD COLUMN IF NOT EXISTS debounce_key text;

-- At most one waiting debounced job per (queue, owner, key): the upsert in
-- src/queue/debounce.ts uses it as its arbiter, so concurrent enqueues meet on one row. Leasing
-- moves a job out of it (state running), so a debounced job already leased is never modified.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_debounce_idx;

CREATE UNIQUE INDEX CONCURRENTLY jobs_debounce_idx
  ON sluice.jobs (queue, key_owner, debounce_key)
  WHERE debounce_key IS NOT NULL AND state IN ('scheduled', 'available');

-- The keyed lease's walk: distinct waiting keys (a skip scan) and each key's next jobs in
-- delivery order. Partial on a key, so jobs of plain queues (no key) add nothing to it. A job
-- without a key enqueued to a keyed queue carries the key '' (no user key is empty), which is
-- exempt from the limit but found here.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_key_available_idx;

CREATE INDEX CONCURRENTLY jobs_key_available_idx
  ON sluice.jobs (queue, concurrency_key, priority DESC, run_at, id)
  WHERE state = 'available' AND concurrency_key IS NOT NULL;

-- Running jobs per key, for the keyed lease and KEY_AT_LIMIT; small (running rows only).
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_key_running_idx;

CREATE INDEX CONCURRENTLY jobs_key_running_idx ON sluice.jobs (queue, concurrency_key)
  WHERE state = 'running' AND concurrency_key IS NOT NULL;

-- When each key of a keyed queue was last given a lease: the keyed lease serves the keys that
-- waited longest first (round robin), so a key that ran recently queues behind cold ones even
-- after its jobs finished. Written only by keyed leases, under the queue's advisory lock.
CREATE TABLE IF NOT EXISTS sluice.key_turns (
  queue text NOT NULL,
  key text NOT NULL,
  served_at timestamptz NOT NULL,
  PRIMARY KEY (queue, key)
);

-- Throttle windows: the first job of (queue, owner, key) in a window is `job_id`; until `until`
-- later enqueues with the key are answered as its duplicates. A row outlives its job on
-- purpose (the window is time, not the job's life); the pruner drops expired rows.
CREATE TABLE IF NOT EXISTS sluice.throttle_windows (
  queue text NOT NULL,
  key_owner text NOT NULL,
  key text NOT NULL,
  job_id bigint,
  until timestamptz NOT NULL,
  PRIMARY KEY (queue, key_owner, key)
);

-- Topics: a publish to `topic` enqueues one job per subscribed queue, in one transaction.
CREATE TABLE IF NOT EXISTS sluice.topic_subscriptions (
  topic text NOT NULL CHECK (topic ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(topic) <= 64),
  queue text NOT NULL REFERENCES sluice.queues (name) ON DELETE CASCADE,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, queue)
);
