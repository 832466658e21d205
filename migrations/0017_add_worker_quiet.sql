-- Quiet a worker from the ops page or the API (issue #19): set by POST /v1/workers/{id}/quiet,
-- read by the worker on its heartbeat (touchWorker's UPDATE returns it, no extra query). A quiet
-- worker leases no more, lets its running jobs finish within its shutdown grace, gives back
-- what it held, and stops. Cleared when a worker of that id registers again.
ALTER TABLE sluice.workers ADD COLUMN quiet_requested_at timestamptz;
