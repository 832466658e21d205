-- sluice:no-transaction
-- Job search by payload (issue #19): `GET /v1/jobs?payload=…` turns both of its forms (JSON
-- containment and path = value) into `payload @> doc`, which this index answers without reading
-- the table. jsonb_path_ops rather than the default jsonb_ops: it indexes one hash per path to a
-- value instead of every key and value, so it is smaller and cheaper to write, and containment
-- is the only operator search uses. Write cost on enqueue: fastupdate (the default) appends new
-- entries to a pending list merged in bulk by vacuum, so an INSERT adds a list append, not a
-- tree descent per key (bench/search.ts --enqueue measures enqueue with and without the index).
--
-- CONCURRENTLY so enqueues and leases go on while it builds on a big live table; see
-- src/db/migrate.ts for the rules of a no-transaction file. A failed earlier run leaves an
-- INVALID index of this name behind: drop it, then build.
DROP INDEX CONCURRENTLY IF EXISTS sluice.jobs_payload_idx;

CREATE INDEX CONCURRENTLY jobs_payload_idx ON sluice.jobs USING gin (payload jsonb_path_ops);
