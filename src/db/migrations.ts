/**
 * The embedded migration list. Each line pairs a text import with its file name; the file name
 * gives version and name (`NNNN_verb_noun.sql`). Append new migrations at the end, never edit
 * or reorder landed ones: `migrate()` verifies their checksums.
 */
import m0001 from "../../migrations/0001_create_core.sql" with { type: "text" };
import m0002 from "../../migrations/0002_create_api.sql" with { type: "text" };
import m0003 from "../../migrations/0003_create_delivery.sql" with { type: "text" };
import m0004 from "../../migrations/0004_create_maintenance.sql" with { type: "text" };
import m0005 from "../../migrations/0005_create_lease_epochs.sql" with { type: "text" };
import m0006 from "../../migrations/0006_guard_job_notify.sql" with { type: "text" };
import m0007 from "../../migrations/0007_add_lease_secrets.sql" with { type: "text" };
import m0008 from "../../migrations/0008_scope_idempotency_keys.sql" with { type: "text" };
import m0009 from "../../migrations/0009_create_sessions.sql" with { type: "text" };
import m0010 from "../../migrations/0010_record_pull_workers.sql" with { type: "text" };
import m0011 from "../../migrations/0011_flow_control.sql" with { type: "text" };
import m0012 from "../../migrations/0012_create_identities.sql" with { type: "text" };
import m0013 from "../../migrations/0013_add_trace_context.sql" with { type: "text" };
import m0014 from "../../migrations/0014_composition_dependencies.sql" with { type: "text" };
import m0015 from "../../migrations/0015_dedupe_blocked_jobs.sql" with { type: "text" };
import m0016 from "../../migrations/0016_index_job_payloads.sql" with { type: "text" };
import m0017 from "../../migrations/0017_add_worker_quiet.sql" with { type: "text" };
import m0018 from "../../migrations/0018_create_queue_history.sql" with { type: "text" };

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = checked([
  migration("0001_create_core.sql", m0001),
  migration("0002_create_api.sql", m0002),
  migration("0003_create_delivery.sql", m0003),
  migration("0004_create_maintenance.sql", m0004),
  migration("0005_create_lease_epochs.sql", m0005),
  migration("0006_guard_job_notify.sql", m0006),
  migration("0007_add_lease_secrets.sql", m0007),
  migration("0008_scope_idempotency_keys.sql", m0008),
  migration("0009_create_sessions.sql", m0009),
  migration("0010_record_pull_workers.sql", m0010),
  migration("0011_flow_control.sql", m0011),
  migration("0012_create_identities.sql", m0012),
  migration("0013_add_trace_context.sql", m0013),
  migration("0014_composition_dependencies.sql", m0014),
  migration("0015_dedupe_blocked_jobs.sql", m0015),
  migration("0016_index_job_payloads.sql", m0016),
  migration("0017_add_worker_quiet.sql", m0017),
  migration("0018_create_queue_history.sql", m0018),
]);

function migration(file: string, sql: string): Migration {
  const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
  if (!m) throw new Error(`migration file name '${file}' does not match 'NNNN_verb_noun.sql'`);
  return { version: Number(m[1]), name: m[2]!, sql };
}

// A gap, a duplicate or a step back is a programming error: fail at load, not halfway through a
// deploy. Parallel branches that both took the next number are renumbered when they merge.
function checked(list: Migration[]): Migration[] {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(
        `migration '${
          String(m.version).padStart(4, "0")
        }_${m.name}' is out of order: expected version ${i + 1}`,
      );
    }
  });
  return list;
}
