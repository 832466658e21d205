/**
 * The engine's per-pool state, one object per process role (api, worker, maintenance), made
 * where the role opens its pool and passed down to the verbs that keep state between calls:
 * queue policies behind one freshness rule (policies.ts) and this pool's lease-token epochs
 * (lease.ts). No module keeps any of it, so two pools in one process (tests, a library host)
 * never share a cache or an epoch. Prepared statements need nothing here: postgres.js prepares
 * every tagged template per connection already.
 */
import type { Sql } from "../db/connect.ts";
import { LeaseTokens } from "./lease.ts";
import { QueuePolicies } from "./policies.ts";
import { BUILTIN_DEFAULTS, type EngineDefaults } from "./queues.ts";

export class Engine {
  readonly sql: Sql;
  readonly defaults: EngineDefaults;
  readonly policies: QueuePolicies;
  readonly leaseTokens: LeaseTokens;

  constructor(
    sql: Sql,
    { defaults = BUILTIN_DEFAULTS, now }: { defaults?: EngineDefaults; now?: () => number } = {},
  ) {
    this.sql = sql;
    this.defaults = defaults;
    this.policies = new QueuePolicies(sql, defaults, { now });
    this.leaseTokens = new LeaseTokens(sql);
  }
}
