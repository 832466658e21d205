-- Monitoring facts the alerts could not see: pull workers, and refused callbacks.
-- (No index on sluice.jobs here: both changes are off the hot table, and run in the migration
-- runner's one transaction like every other migration.)

-- Which kind of worker a row is: 'process' (`sluice worker` / `sluice up`, serving inline, exec
-- and http queues) or 'pull' (an external program leasing a pull queue over HTTP; the api writes
-- its row on lease and heartbeat, at most about once a second per worker and api process).
-- /v1/ops/queues counts, per queue, only the workers of the kind its delivery mode needs.
ALTER TABLE sluice.workers ADD COLUMN kind text NOT NULL DEFAULT 'process'
  CHECK (kind IN ('process', 'pull'));

-- Refused callbacks (bad signature, timestamp out of tolerance, stale lease, replayed event, …)
-- change nothing and leave no callback_events row, but callback_failure_ratio counts them.
-- Counted per minute and error code, so a flood of forged requests adds one row a minute, not
-- one per request. Pruned with the rest of the history.
CREATE TABLE sluice.callback_refusals (
  minute timestamptz NOT NULL,
  code text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (minute, code)
);
