import type { Db } from "../db/connect.ts";

/**
 * Jobs a worker leases beyond its free slots (prefetch, src/worker/prefetch.ts) are leased for
 * this long instead of the full lease, and are not heartbeated while they wait: a held job
 * starts within a second or goes back to the queue, and if its worker stalls (a blocked event
 * loop) the reaper returns it after this rather than after the whole lease. An attempt started
 * from such a lease is renewed to the full lease once it has run PREFETCH_FAST_MS (prefetch.ts).
 *
 * It doubles as the "held, not started" marker without a per-job write: a lease statement sets
 * `leased_at` and `lease_expires_at` from the same now(), and every renewal moves the expiry
 * past `leased_at + PREFETCH_LEASE_MS`, so a running row whose expiry is still exactly that was
 * leased for prefetch and not (yet) reported started. The length is not a whole number of
 * seconds so that no pull lease (whole seconds) and no usual SLUICE_LEASE is mistaken for it; a
 * worker configured with a lease of 4.5 s or less prefetches on its own lease, unmarked.
 */
export const PREFETCH_LEASE_MS = 4_500;

/** A running row of `sluice.jobs` held in a worker's prefetch buffer (see PREFETCH_LEASE_MS). */
export function heldForPrefetch(sql: Db) {
  return sql`lease_expires_at = leased_at + ${PREFETCH_LEASE_MS} * interval '1 millisecond'`;
}
