-- The api role: bearer tokens, the record of denied enqueues, and the per-queue counters that
-- admission control shares across every api process.

CREATE TABLE sluice.tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  scope text NOT NULL CHECK (scope IN ('admin', 'producer', 'worker', 'read')),
  -- SHA-256 of the whole token, hex. The token itself is shown once and never stored.
  hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Written in batches every few seconds by each api process, never once per request.
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- One row per denied enqueue (DESIGN.md "Queues and policies"); browsed newest first.
CREATE TABLE sluice.policy_decisions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  queue text,
  code text NOT NULL,
  detail text NOT NULL,
  token_name text
);
CREATE INDEX policy_decisions_queue_idx ON sluice.policy_decisions (queue, id);
CREATE INDEX policy_decisions_at_idx ON sluice.policy_decisions (at);

-- Fixed one-minute windows of accepted enqueues per queue, shared by every api process: one
-- upsert per enqueue request on queues that have a limit, instead of counting jobs.
CREATE TABLE sluice.enqueue_windows (
  queue text NOT NULL,
  window_start timestamptz NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (queue, window_start)
);
