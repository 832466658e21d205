-- Sluice core schema: queues, jobs, workers.
-- Stored job states are exactly the visible ones, so a state filter is a plain predicate and
-- each hot index can be partial on one state:
--   scheduled  waits for run_at (attempt = 0)      -> promoted to available when due
--   retrying   failed, waits for backoff (run_at)  -> promoted to available when due
--   available  runnable now; the only rows the lease statement looks at
--   running    leased; lease_token fences every later write
--   succeeded | dead | cancelled  finished, kept until the retention rules remove them
-- Keeping future jobs out of the `available` index is what keeps the lease statement flat when
-- millions of jobs wait for later: a single index over both would make an idle worker walk every
-- future row on each poll (PostgreSQL 15 has no btree skip scan).

CREATE SCHEMA IF NOT EXISTS sluice;

CREATE TABLE sluice.queues (
  name text PRIMARY KEY CHECK (name ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(name) <= 64),
  paused boolean NOT NULL DEFAULT false,
  -- Policies as given by the operator: an absent key takes the environment default, a key set
  -- to null means "no limit". Resolved in src/queue/queues.ts.
  policy jsonb NOT NULL DEFAULT '{}',
  -- Fixed-window counter for the queue's start-rate limit, shared by every worker.
  rate_window_start timestamptz,
  rate_window_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO sluice.queues (name) VALUES ('default');

-- A number that grows with every lease: the fencing token of the attempt.
CREATE SEQUENCE sluice.lease_token_seq AS bigint CACHE 100;

CREATE TABLE sluice.jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- No foreign key to queues: a KEY SHARE lock on the queue row per insert turns into
  -- multixact contention at thousands of enqueues/s. The engine checks the name instead.
  queue text NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL,
  state text NOT NULL CHECK (
    state IN ('scheduled', 'available', 'running', 'retrying', 'succeeded', 'dead', 'cancelled')
  ),
  priority smallint NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL CHECK (max_attempts >= 1),
  timeout_ms integer CHECK (timeout_ms > 0),
  idempotency_key text,
  tags text[] NOT NULL DEFAULT '{}',
  retry_of bigint,
  lease_token bigint,
  worker_id text,
  leased_at timestamptz,
  lease_expires_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  dead_reason text,
  -- One object per failed attempt: {attempt, code, message, at, worker, startedAt, retryable}.
  errors jsonb NOT NULL DEFAULT '[]',
  result jsonb,
  cancel_requested boolean NOT NULL DEFAULT false,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now()
) WITH (
  -- The hot table churns: vacuum it after 1% of rows change instead of 20%, and without
  -- cost-based sleeping, so dead tuples from lease/complete updates are reclaimed promptly.
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);

-- The lease statement walks this index in delivery order and stops after N rows.
CREATE INDEX jobs_available_idx ON sluice.jobs (queue, priority DESC, run_at, id)
  WHERE state = 'available';
-- Promotion of due scheduled/retrying jobs.
CREATE INDEX jobs_due_idx ON sluice.jobs (run_at) WHERE state IN ('scheduled', 'retrying');
-- Reaper (expired leases), heartbeats and per-queue running counts.
CREATE INDEX jobs_running_idx ON sluice.jobs (lease_expires_at) WHERE state = 'running';
-- Idempotency: one unfinished job per (queue, key).
CREATE UNIQUE INDEX jobs_idempotency_idx ON sluice.jobs (queue, idempotency_key)
  WHERE idempotency_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retrying');
-- Lineage: the jobs that re-run a given job.
CREATE INDEX jobs_retry_of_idx ON sluice.jobs (retry_of) WHERE retry_of IS NOT NULL;
-- Dead letters are rare and browsed by queue and time.
CREATE INDEX jobs_dead_idx ON sluice.jobs (queue, finished_at) WHERE state = 'dead';

-- One notification per enqueue statement (not per row): workers LISTEN on sluice_jobs and
-- wake up; the payload is the comma-separated list of queues that gained available jobs.
CREATE FUNCTION sluice.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  queues text;
BEGIN
  SELECT string_agg(DISTINCT queue, ',') INTO queues FROM inserted WHERE state = 'available';
  IF queues IS NOT NULL THEN
    PERFORM pg_notify('sluice_jobs', left(queues, 7000));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_notify_inserted AFTER INSERT ON sluice.jobs
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.notify_jobs_inserted();

CREATE TABLE sluice.workers (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  queues text[] NOT NULL,
  concurrency integer NOT NULL,
  version text NOT NULL,
  metrics_addr text,
  started_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);
