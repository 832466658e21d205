-- One notifying enqueue at a time. PostgreSQL serializes the commits of transactions that
-- NOTIFY (a database-wide lock is held from pre-commit until the commit is flushed), so a
-- NOTIFY in every enqueue turned concurrent enqueues into one fsync after another: pgbench, 20
-- clients, durable commits, INSERT + NOTIFY 514–797 TPS vs INSERT alone 3,100–4,000 TPS.
-- Now only the transaction that gets a non-blocking advisory lock notifies; the others skip
-- the notification and group-commit (INSERT + guarded NOTIFY: 2,300–3,100 TPS). Workers woken
-- by a notification look again shortly after their lease (src/worker/worker.ts), so rows of a
-- transaction that skipped and committed just after the notifier are not left for the poll.
CREATE OR REPLACE FUNCTION sluice.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  queues text;
BEGIN
  SELECT string_agg(DISTINCT queue, ',') INTO queues FROM inserted WHERE state = 'available';
  IF queues IS NOT NULL AND pg_try_advisory_xact_lock(hashtext('sluice.notify'), 0) THEN
    PERFORM pg_notify('sluice_jobs', left(queues, 7000));
  END IF;
  RETURN NULL;
END $$;
