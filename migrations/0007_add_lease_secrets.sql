-- Lease secrets apart from the fencing number (issue #14 "Trust", #21).
--
-- lease_token stays what DESIGN.md calls it: the fencing number, epoch * 2^32 + n
-- (0005_create_lease_epochs.sql), shared by the jobs of one lease statement and growing with
-- every lease, for receivers that need to order attempts. It is no longer a credential: it was
-- small and guessable. Every write after a lease is now fenced on lease_secret instead:
--   lease_secret    the attempt's own unguessable token (244 random bits from PostgreSQL's
--                   strong random source, base64url), handed to the one holder of the lease
--                   (a pull worker; an http receiver as `sluice-lease-token`)
--   lease_via       how the lease was taken: 'pull' (the pull API) or 'worker' (a built-in
--                   worker); the pull API reports only on 'pull' leases
--   lease_ms        the length the lease was granted with: a heartbeat without its own
--                   length extends by this much (and never shortens a lease)
--   lease_releases  leases given back without an outcome (worker shutdown), for the timeline:
--                   [{attempt, leasedAt, at, worker, reason}]; NULL when there were none
-- ADD COLUMN without a default only changes the catalog (no table rewrite, no scan), so this is
-- safe on a big live jobs table inside the migration's transaction; no index changes, so no
-- CREATE INDEX CONCURRENTLY (which could not run in migrate()'s single transaction anyway).
-- Rows leased before this migration have no secret: their old workers' writes, fenced on
-- lease_token alone, still work; nothing else can report on them, and the reaper takes them
-- back when their lease expires.
ALTER TABLE sluice.jobs
  ADD COLUMN lease_secret text,
  ADD COLUMN lease_via text,
  ADD COLUMN lease_ms integer,
  ADD COLUMN lease_releases jsonb;

-- The archive mirrors the jobs table (created LIKE it in 0004); the archiver inserts by column
-- name, so these land after archived_at without harm.
ALTER TABLE sluice.jobs_archive
  ADD COLUMN lease_secret text,
  ADD COLUMN lease_via text,
  ADD COLUMN lease_ms integer,
  ADD COLUMN lease_releases jsonb;
