-- Composition (issue #16): jobs that wait for other jobs, workflows (a DAG created at once) and
-- batches (a group with callbacks). The data model and why it is safe under concurrency are in
-- docs/composition.md; in short:
--   * an edge table sluice.job_dependencies(parent_id, child_id), and on the child a counter of
--     parents that have not succeeded yet (`parents_pending`);
--   * a new state `blocked` for a child whose counter is above zero;
--   * one row trigger on sluice.jobs that runs in the transaction of EVERY statement that moves
--     a job with dependents, or a job of a batch, into a finished state (worker completions,
--     failures, the reaper, cancel, callbacks, restore...): no code path can forget to release.
-- The trigger's WHEN tests only columns of the updated row, so a job without dependents and
-- without a batch (the plain path) queues no trigger event and calls no function.
--
-- Every statement here is a catalog change (columns with no default or a constant one, a new
-- CHECK added NOT VALID, new tables, functions and triggers): no table rewrite, no scan of
-- sluice.jobs, so the migration's one transaction holds its lock only for an instant.

-- `blocked`: waits for parents. NOT VALID: every existing row satisfies the older, narrower
-- check, so there is nothing to validate, and the check is enforced on every new write.
ALTER TABLE sluice.jobs DROP CONSTRAINT IF EXISTS jobs_state_check;
ALTER TABLE sluice.jobs ADD CONSTRAINT jobs_state_check CHECK (
  state IN ('blocked', 'scheduled', 'available', 'running', 'retrying', 'succeeded', 'dead',
    'cancelled')
) NOT VALID;

ALTER TABLE sluice.jobs
  -- Parents not succeeded yet; NULL for a job that never had parents.
  ADD COLUMN parents_pending integer,
  -- What a parent ending dead or cancelled does to this job: cancel | run | wait.
  ADD COLUMN on_parent_failure text,
  -- This job has children: the trigger below looks at its edges when it finishes.
  ADD COLUMN has_dependents boolean NOT NULL DEFAULT false,
  -- When the last parent released this job (for the timeline and the release latency).
  ADD COLUMN released_at timestamptz,
  ADD COLUMN workflow_id bigint,
  ADD COLUMN workflow_key text,
  ADD COLUMN batch_id bigint;

-- The archive mirrors the jobs table (the archiver moves rows by column name).
ALTER TABLE sluice.jobs_archive
  ADD COLUMN parents_pending integer,
  ADD COLUMN on_parent_failure text,
  ADD COLUMN has_dependents boolean NOT NULL DEFAULT false,
  ADD COLUMN released_at timestamptz,
  ADD COLUMN workflow_id bigint,
  ADD COLUMN workflow_key text,
  ADD COLUMN batch_id bigint;

-- Blocked jobs per queue, for counts and metrics (partial: costs nothing for other rows).
CREATE INDEX jobs_blocked_idx ON sluice.jobs (queue) WHERE state = 'blocked';
CREATE INDEX jobs_workflow_idx ON sluice.jobs (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX jobs_batch_idx ON sluice.jobs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_archive_workflow_idx ON sluice.jobs_archive (workflow_id)
  WHERE workflow_id IS NOT NULL;
CREATE INDEX jobs_archive_batch_idx ON sluice.jobs_archive (batch_id) WHERE batch_id IS NOT NULL;

-- One row per edge. No foreign keys (like sluice.jobs.queue): a KEY SHARE lock per edge on the
-- hot table would add multixact traffic, and parents may move to the archive.
CREATE TABLE sluice.job_dependencies (
  parent_id bigint NOT NULL,
  child_id bigint NOT NULL,
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX job_dependencies_child_idx ON sluice.job_dependencies (child_id);

CREATE TABLE sluice.workflows (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  created_by text,
  -- The producer whose workflow it is ('' for admin tokens and library calls), as key_owner.
  owner text NOT NULL DEFAULT '',
  cancelled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflows_name_idx ON sluice.workflows (name, id);

CREATE TABLE sluice.batches (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text CHECK (length(name) BETWEEN 1 AND 128),
  created_by text,
  owner text NOT NULL DEFAULT '',
  -- Jobs may be added while open; the batch settles once closed and every job has finished.
  open boolean NOT NULL,
  total integer NOT NULL DEFAULT 0,
  succeeded integer NOT NULL DEFAULT 0,
  dead integer NOT NULL DEFAULT 0,
  cancelled integer NOT NULL DEFAULT 0,
  -- Validated callback jobs as the INSERT takes them: {"onSuccess": {queue, kind, payload,
  -- priority, max_attempts, timeout_ms, tags}, ...}. Their payload gets {"batch": summary}.
  callbacks jsonb NOT NULL DEFAULT '{}',
  -- {"onSuccess": "<job id>", ...}: the callback jobs enqueued when the batch settled.
  callback_jobs jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz,
  settled_at timestamptz
);

-- Settles a closed batch whose jobs have all finished: enqueues its callback jobs once. The
-- caller holds the batch row's lock (it just updated the row) and `settled_at IS NULL` guards
-- the second caller, so the callbacks are enqueued exactly once.
CREATE FUNCTION sluice.settle_batch(batch_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  b sluice.batches;
  summary jsonb;
  wanted text[];
  ids jsonb := '{}';
  cb text;
  spec jsonb;
  new_id bigint;
BEGIN
  UPDATE sluice.batches SET settled_at = now()
  WHERE id = batch_id AND NOT open AND settled_at IS NULL
    AND succeeded + dead + cancelled = total
  RETURNING * INTO b;
  IF NOT FOUND THEN RETURN; END IF;
  summary := jsonb_build_object('id', b.id::text, 'name', b.name, 'total', b.total,
    'succeeded', b.succeeded, 'dead', b.dead, 'cancelled', b.cancelled);
  wanted := ARRAY['onComplete'] ||
    CASE WHEN b.dead + b.cancelled = 0 THEN ARRAY['onSuccess'] ELSE ARRAY['onFailure'] END;
  FOREACH cb IN ARRAY wanted LOOP
    spec := b.callbacks -> cb;
    CONTINUE WHEN spec IS NULL;
    INSERT INTO sluice.jobs (queue, kind, payload, state, priority, max_attempts, timeout_ms,
      tags, created_by, key_owner)
    VALUES (spec->>'queue', spec->>'kind',
      (spec->'payload') || jsonb_build_object('batch', summary || jsonb_build_object('callback', cb)),
      'available', (spec->>'priority')::smallint, (spec->>'max_attempts')::int,
      (spec->>'timeout_ms')::int,
      ARRAY(SELECT jsonb_array_elements_text(coalesce(spec->'tags', '[]'))),
      b.created_by, b.owner)
    RETURNING id INTO new_id;
    ids := ids || jsonb_build_object(cb, new_id::text);
  END LOOP;
  UPDATE sluice.batches SET callback_jobs = ids WHERE id = b.id;
END $$;

-- A parent finished: release, cancel or leave each blocked child by its policy; a job of a
-- batch finished: count it. Runs in the finishing statement's transaction.
--
-- Why each child is released exactly once: the child's counter is decremented by an UPDATE of
-- the child row, which takes the row's lock. Two transactions that finish the last two parents
-- at once both update the same child row; the second waits for the first to commit, then
-- PostgreSQL re-evaluates its UPDATE on the committed row version (READ COMMITTED), so it sees
-- the counter the first left and takes it to zero. Exactly one of them sees zero and flips the
-- state, and `state = 'blocked'` keeps a released child from being counted again. The counter is
-- arithmetic on the row itself, not a count of parents read from a snapshot: a snapshot taken
-- before the other commit would still see that parent running.
-- A batch row works the same way: the counter update locks the row and only the transaction
-- whose update makes `finished = total` (closed) settles it; settle_batch's guard makes it once.
CREATE FUNCTION sluice.job_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  released text;
BEGIN
  IF NEW.has_dependents THEN
    WITH moved AS (
      UPDATE sluice.jobs c SET
        parents_pending = c.parents_pending -
          CASE WHEN NEW.state = 'succeeded' OR c.on_parent_failure = 'run' THEN 1 ELSE 0 END,
        state = CASE
          WHEN NEW.state <> 'succeeded' AND c.on_parent_failure = 'cancel' THEN 'cancelled'
          WHEN c.parents_pending - 1 > 0 THEN 'blocked'
          WHEN c.run_at > now() THEN 'scheduled'
          ELSE 'available' END,
        released_at = CASE
          WHEN NEW.state <> 'succeeded' AND c.on_parent_failure = 'cancel' THEN NULL
          WHEN c.parents_pending - 1 = 0 THEN now() END,
        finished_at = CASE
          WHEN NEW.state <> 'succeeded' AND c.on_parent_failure = 'cancel' THEN now() END,
        dead_reason = CASE
          WHEN NEW.state <> 'succeeded' AND c.on_parent_failure = 'cancel' THEN 'PARENT_FAILED' END
      FROM sluice.job_dependencies d
      WHERE d.parent_id = NEW.id AND c.id = d.child_id AND c.state = 'blocked'
        AND (NEW.state = 'succeeded' OR c.on_parent_failure <> 'wait')
      RETURNING c.queue, c.state
    )
    SELECT string_agg(DISTINCT queue, ',') INTO released FROM moved WHERE state = 'available';
    -- Wake workers for released children, guarded like the insert trigger (0006): only the
    -- transaction that gets the lock notifies; workers poll shortly after for the others.
    IF released IS NOT NULL AND pg_try_advisory_xact_lock(hashtext('sluice.notify'), 0) THEN
      PERFORM pg_notify('sluice_jobs', left(released, 7000));
    END IF;
  END IF;
  IF NEW.batch_id IS NOT NULL THEN
    UPDATE sluice.batches SET
      succeeded = succeeded + (NEW.state = 'succeeded')::int,
      dead = dead + (NEW.state = 'dead')::int,
      cancelled = cancelled + (NEW.state = 'cancelled')::int
    WHERE id = NEW.batch_id;
    PERFORM sluice.settle_batch(NEW.batch_id);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_finished AFTER UPDATE OF state ON sluice.jobs
  FOR EACH ROW
  WHEN ((NEW.has_dependents OR NEW.batch_id IS NOT NULL)
    AND NEW.state IN ('succeeded', 'dead', 'cancelled')
    AND OLD.state NOT IN ('succeeded', 'dead', 'cancelled'))
  EXECUTE FUNCTION sluice.job_finished();

-- A replay (a new job with retry_of) of a dead or cancelled parent takes over its place: its
-- children waiting under 'wait' now wait for the replay, and children cancelled with
-- PARENT_FAILED come back (blocked again, or runnable) — that is how replaying a dead node
-- resumes a workflow. The replay also keeps its workflow node.
CREATE FUNCTION sluice.job_replayed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  original sluice.jobs;
BEGIN
  SELECT * INTO original FROM sluice.jobs WHERE id = NEW.retry_of;
  IF NOT FOUND OR original.state = 'succeeded'
    OR (NOT original.has_dependents AND original.workflow_id IS NULL) THEN
    RETURN NULL;
  END IF;
  UPDATE sluice.jobs SET workflow_id = original.workflow_id, workflow_key = original.workflow_key,
    has_dependents = original.has_dependents
  WHERE id = NEW.id;
  IF original.has_dependents THEN
    -- 'run' children already counted the failed parent: their edge stays where it was.
    UPDATE sluice.job_dependencies d SET parent_id = NEW.id
    FROM sluice.jobs c
    WHERE d.parent_id = original.id AND c.id = d.child_id
      AND ((c.state = 'blocked' AND c.on_parent_failure = 'wait')
        OR (c.state = 'cancelled' AND c.dead_reason = 'PARENT_FAILED'));
    PERFORM sluice.revive_children(NEW.id);
  END IF;
  RETURN NULL;
END $$;

-- Children of `parent` cancelled with PARENT_FAILED whose parents are all alive again are
-- blocked again (or runnable), and so on down the graph. The parents are read FOR SHARE: a
-- parent finishing at this moment either committed first (its state is read here) or waits
-- for this transaction, and then its own trigger sees the revived child as blocked.
CREATE FUNCTION sluice.revive_children(parent bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  child bigint;
  failed integer;
  pending integer;
BEGIN
  FOR child IN
    SELECT c.id FROM sluice.job_dependencies d JOIN sluice.jobs c ON c.id = d.child_id
    WHERE d.parent_id = parent AND c.state = 'cancelled' AND c.dead_reason = 'PARENT_FAILED'
    ORDER BY c.id
    FOR UPDATE OF c
  LOOP
    SELECT count(*) FILTER (WHERE p.state IN ('dead', 'cancelled')),
      count(*) FILTER (WHERE p.state IS DISTINCT FROM 'succeeded' AND a.id IS NULL)
    INTO failed, pending
    FROM sluice.job_dependencies d
    LEFT JOIN LATERAL (SELECT j.state FROM sluice.jobs j WHERE j.id = d.parent_id FOR SHARE) p
      ON true
    LEFT JOIN sluice.jobs_archive a ON a.id = d.parent_id
    WHERE d.child_id = child;
    CONTINUE WHEN failed > 0;
    UPDATE sluice.jobs SET parents_pending = pending,
      state = CASE WHEN pending > 0 THEN 'blocked' WHEN run_at > now() THEN 'scheduled'
        ELSE 'available' END,
      released_at = CASE WHEN pending = 0 THEN now() END,
      finished_at = NULL, dead_reason = NULL
    WHERE id = child;
    PERFORM sluice.revive_children(child);
  END LOOP;
END $$;

CREATE TRIGGER jobs_replayed AFTER INSERT ON sluice.jobs
  FOR EACH ROW WHEN (NEW.retry_of IS NOT NULL)
  EXECUTE FUNCTION sluice.job_replayed();
