-- Server-side history for the ops page charts (issue #19): per queue, once a minute, how many
-- jobs wait and run and how many finished since the last sample. Written by the maintenance
-- counter, kept a day: one row per queue per minute is 1,440 rows (about 100 kB) per queue, so
-- the table stays small without a partition; the sampler prunes older rows as it writes.
CREATE TABLE sluice.queue_history (
  at timestamptz NOT NULL,
  queue text NOT NULL,
  waiting integer NOT NULL,
  running integer NOT NULL,
  succeeded integer NOT NULL,
  dead integer NOT NULL,
  PRIMARY KEY (at, queue)
);
