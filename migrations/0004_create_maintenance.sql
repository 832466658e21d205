-- The maintenance role: leader lease, pass bookkeeping, archive, cron schedules, alerts.

-- Exactly one row: the maintenance leader. A process leads while `expires_at` is in the future
-- and renews it every third of the TTL; anyone may take over once it has passed (kill -9 of the
-- leader costs at most one TTL). `term` grows with every change of holder.
CREATE TABLE sluice.maintenance_leader (
  id integer PRIMARY KEY CHECK (id = 1),
  holder text NOT NULL,
  term bigint NOT NULL,
  acquired_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

-- The last pass of each service, for /v1/ops/queues ("is maintenance alive?").
CREATE TABLE sluice.maintenance_passes (
  service text PRIMARY KEY,
  holder text NOT NULL,
  last_run_at timestamptz NOT NULL,
  duration_ms integer NOT NULL,
  counts jsonb NOT NULL DEFAULT '{}',
  error text
);

-- Succeeded jobs past SLUICE_ARCHIVE_SUCCEEDED_AFTER move here, so the hot table stays small.
-- Same columns as sluice.jobs (plain bigint id, no identity), plus when it moved.
CREATE TABLE sluice.jobs_archive (LIKE sluice.jobs INCLUDING DEFAULTS);
ALTER TABLE sluice.jobs_archive ADD PRIMARY KEY (id),
  ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX jobs_archive_finished_idx ON sluice.jobs_archive (finished_at);
CREATE INDEX jobs_archive_retry_of_idx ON sluice.jobs_archive (retry_of) WHERE retry_of IS NOT NULL;

-- Finished jobs by finish time: archiver, scrubber and pruner walk it in batches, and the
-- throughput / success-rate figures read only its recent end. Partial on finished states, so it
-- costs one index entry per finished job and nothing for unfinished ones. `dead` also has
-- jobs_dead_idx (queue, finished_at) for the DLQ.
CREATE INDEX jobs_finished_idx ON sluice.jobs (finished_at)
  WHERE state IN ('succeeded', 'dead', 'cancelled');

-- Scheduled and retrying jobs by queue, so the metrics scrape counts them index-only
-- (jobs_due_idx is on run_at alone and would fetch every waiting row from the heap: 250 ms for
-- 70,000 waiting jobs). Costs one index entry per scheduled or retried job, none on the happy
-- path of an immediate job.
CREATE INDEX jobs_waiting_queue_idx ON sluice.jobs (queue, state)
  WHERE state IN ('scheduled', 'retrying');

-- Stock of finished jobs per queue, counted by maintenance at most once a minute, so a metrics
-- scrape never counts a million succeeded rows (unfinished states are counted exactly, live).
CREATE TABLE sluice.job_count_snapshots (
  queue text NOT NULL,
  state text NOT NULL,
  n bigint NOT NULL,
  counted_at timestamptz NOT NULL,
  PRIMARY KEY (queue, state)
);

-- Cron schedules. `next_slot` is the next time the schedule is due; firing a slot enqueues the
-- job and moves `last_slot`/`next_slot` in one transaction on the row lock, so each slot fires
-- once across every maintenance process.
CREATE TABLE sluice.schedules (
  name text PRIMARY KEY CHECK (name ~ '^[a-z0-9]+([._:-][a-z0-9]+)*$' AND length(name) <= 128),
  cron text NOT NULL,
  timezone text NOT NULL DEFAULT 'UTC',
  queue text NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  -- What to do with slots missed while nothing ran: 'skip' them, or run 'once' for all of them.
  missed text NOT NULL DEFAULT 'skip' CHECK (missed IN ('skip', 'once')),
  paused boolean NOT NULL DEFAULT false,
  next_slot timestamptz,
  last_slot timestamptz,
  last_job_id bigint,
  last_fired_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due_idx ON sluice.schedules (next_slot) WHERE NOT paused;

-- Alert state, one row per alert and subject (a queue, or '' for global ones).
CREATE TABLE sluice.alerts (
  name text NOT NULL,
  subject text NOT NULL DEFAULT '',
  state text NOT NULL CHECK (state IN ('ok', 'pending', 'firing')),
  value double precision,
  threshold double precision,
  -- When the condition started to hold (pending), when it fired, when it last resolved.
  pending_since timestamptz,
  fired_at timestamptz,
  resolved_at timestamptz,
  evaluated_at timestamptz NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (name, subject)
);

-- Firing and resolution history, for "recent alerts"; pruned with the rest of the history.
CREATE TABLE sluice.alert_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  subject text NOT NULL,
  event text NOT NULL CHECK (event IN ('firing', 'resolved')),
  value double precision,
  threshold double precision,
  at timestamptz NOT NULL
);
CREATE INDEX alert_events_at_idx ON sluice.alert_events (at);
