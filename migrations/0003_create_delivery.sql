-- Delivery: asynchronous callbacks and circuit breakers for http push.

-- A job that answered 202 waits for a signed callback. It is waiting when callback_token equals
-- its lease_token: a new lease hands out a new token, so the mark needs no reset on any other
-- transition. The reaper records CALLBACK_TIMEOUT instead of LEASE_EXPIRED for such a job.
ALTER TABLE sluice.jobs ADD COLUMN callback_token bigint;

-- One row per applied callback: a replayed eventId finds its row and changes nothing.
CREATE TABLE sluice.callback_events (
  event_id text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 200),
  job_id bigint NOT NULL,
  attempt integer NOT NULL,
  status text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callback_events_received_idx ON sluice.callback_events (received_at);

-- Circuit breakers, one per target origin (scheme://host:port), shared by every worker.
-- Workers merge their outcome counts into the row in small batches (not per request: one hot
-- row updated at thousands of requests per second would serialize every worker on it).
CREATE TABLE sluice.circuits (
  origin text PRIMARY KEY,
  state text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
  consecutive_failures integer NOT NULL DEFAULT 0,
  -- Fixed window for the failure ratio.
  window_start timestamptz NOT NULL DEFAULT now(),
  window_successes integer NOT NULL DEFAULT 0,
  window_failures integer NOT NULL DEFAULT 0,
  opened_at timestamptz,
  -- While open: no requests until then; afterwards one worker takes the probe (half_open).
  open_until timestamptz,
  probe_holder text,
  probe_expires_at timestamptz,
  last_failure text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
