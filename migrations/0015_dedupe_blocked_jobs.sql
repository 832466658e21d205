-- sluice:no-transaction
-- Idempotency keys also hold while a job is `blocked` (issue #16): the unique index of 0008 covers
-- only scheduled/available/running/retrying, so a second enqueue with the key of a job waiting
-- for its parents created a second job. The new index adds `blocked`; the enqueue's ON CONFLICT
-- and its duplicate lookup name the same states (src/queue/enqueue.ts).
--
-- Outside a transaction for CREATE INDEX CONCURRENTLY, like 0008 (enqueues, leases and
-- completions go on while it builds); each statement is safe to run again after a crash.

-- A failed earlier run leaves an INVALID index of this name behind: drop it, then build.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_idempotency_unfinished_idx;

CREATE UNIQUE INDEX CONCURRENTLY jobs_idempotency_unfinished_idx
  ON sluice.jobs (queue, key_owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL
    AND state IN ('blocked', 'scheduled', 'available', 'running', 'retrying');

-- Until this runs, the old index still makes a key unique among the four states it covers.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_idempotency_owner_idx;
