-- Trace context travels with the job (issue #15): the W3C `traceparent`/`tracestate` of the
-- enqueue span, as a JSON object of those header names, so the attempt span is a child of the
-- enqueue and push delivery passes the trace on. NULL while telemetry is off (no cost then:
-- a nullable column without a default is a catalog change, no table rewrite).
ALTER TABLE sluice.jobs ADD COLUMN IF NOT EXISTS trace_context jsonb;

-- The archive keeps the same columns (src/maintenance/archiver.ts moves rows by column name).
ALTER TABLE sluice.jobs_archive ADD COLUMN IF NOT EXISTS trace_context jsonb;
