/**
 * The maintenance role's loop (`sluice maintenance`, and inside `sluice up`): it takes or renews
 * the leader lease (src/maintenance/leader.ts) and, while it leads, runs each enabled service
 * whose interval (`MaintenanceService.everyMs`) has passed since its last pass ended, in list
 * order, then sleeps until the next one is due. A failing service is logged and the others still
 * run; the loop never dies with the database (the next pass tries again). Standbys only try to
 * take the lease.
 *
 * Each service pass logs one `maintenance_pass` line with its counts — at info when it did
 * something, at debug when every count is 0 or names standing state (`MaintenanceService.state`:
 * a quiet system would otherwise log eight lines every five seconds) — and records itself in `sluice.maintenance_passes` for the ops view.
 */
import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { acquireLeadership, releaseLeadership } from "./leader.ts";
import type { MaintenanceService, ServiceContext } from "./service.ts";

export type { MaintenanceService } from "./service.ts";

export interface MaintenanceLoop {
  /** True while this process holds the lease. */
  readonly leading: boolean;
  stop(): Promise<void>;
}

export interface MaintenanceOptions {
  log: Logger;
  services: MaintenanceService[];
  /** This process's name in the lease row. */
  holder: string;
  leaderTtlMs: number;
  /** Test clock; null = the database's. */
  now?: () => Date | null;
}

/** Runs every service once, in order; returns counts per service. */
export async function runMaintenancePass(
  sql: Sql,
  services: MaintenanceService[],
  { log, holder, now = null, shouldStop = () => false }: {
    log: Logger;
    holder: string;
    now?: Date | null;
    shouldStop?: () => boolean;
  },
): Promise<Record<string, Record<string, number> | { error: string }>> {
  const out: Record<string, Record<string, number> | { error: string }> = {};
  const ctx: ServiceContext = { log, now };
  for (const s of services) {
    if (shouldStop()) break;
    const t0 = performance.now();
    let counts: Record<string, number> = {};
    let error: string | null = null;
    try {
      counts = await s.run(sql, ctx);
      out[s.name] = counts;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      out[s.name] = { error };
      log.error("maintenance_failed", { service: s.name, error: e });
    }
    const ms = Math.round(performance.now() - t0);
    if (!error) {
      const busy = Object.entries(counts).some(([k, n]) => n > 0 && !s.state?.includes(k));
      log[busy ? "info" : "debug"]("maintenance_pass", {
        service: s.name,
        ...counts,
        duration_ms: ms,
      });
    }
    await sql`
      INSERT INTO sluice.maintenance_passes (service, holder, last_run_at, duration_ms, counts, error)
      VALUES (${s.name}, ${holder}, now(), ${ms}, ${JSON.stringify(counts)}::text::jsonb, ${error})
      ON CONFLICT (service) DO UPDATE SET holder = excluded.holder,
        last_run_at = excluded.last_run_at, duration_ms = excluded.duration_ms,
        counts = excluded.counts, error = excluded.error`.catch((e) =>
      // The pass itself ran; only its record for `maintenance status` is missing.
      log.warn("maintenance_pass_record_failed", { service: s.name, error: e })
    );
  }
  return out;
}

export function startMaintenanceLoop(sql: Sql, o: MaintenanceOptions): MaintenanceLoop {
  let stopped = false;
  let leading = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | null = null;
  const log = o.log.child({ holder: o.holder });

  const renew = async (): Promise<boolean> => {
    try {
      const l = await acquireLeadership(sql, o.holder, o.leaderTtlMs, { now: o.now?.() ?? null });
      if (l.leader && !leading) log.info("maintenance_leader_acquired", { term: l.term });
      if (!l.leader && leading) {
        log.warn("maintenance_leader_lost", { leader: l.holder, term: l.term });
      }
      leading = l.leader;
    } catch (e) {
      // Cannot reach the database: stop acting as leader; the lease runs out by itself.
      if (leading) log.warn("maintenance_leader_lost", { error: e });
      leading = false;
    }
    return leading;
  };

  // Renew at a third of the TTL independently of passes, so a long pass keeps the lease.
  const renewEvery = Math.max(100, Math.floor(o.leaderTtlMs / 3));
  const renewer = setInterval(() => {
    if (!stopped && leading) void renew();
  }, renewEvery);

  // performance.now() at which each service is due again; absent: due now. Counted from the
  // end of the pass it ran in, so with equal intervals every pass runs every service.
  const dueAt = new Map<MaintenanceService, number>();
  const shortest = Math.min(renewEvery, ...o.services.map((s) => s.everyMs));
  const running = (async () => {
    while (!stopped) {
      if (await renew()) {
        const t = performance.now();
        const due = o.services.filter((s) => (dueAt.get(s) ?? t) <= t);
        await runMaintenancePass(sql, due, {
          log,
          holder: o.holder,
          now: o.now?.() ?? null,
          shouldStop: () => stopped,
        });
        const end = performance.now();
        for (const s of due) dueAt.set(s, end + s.everyMs);
      }
      if (stopped) break;
      const next = Math.min(...o.services.map((s) => dueAt.get(s) ?? 0)) - performance.now();
      // A standby polls at the smaller of the shortest interval and TTL/3, so it takes over
      // within the TTL.
      const wait = leading && o.services.length > 0
        ? Math.min(2 ** 31 - 1, Math.max(0, next))
        : shortest;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, wait);
      });
    }
  })();
  return {
    get leading() {
      return leading;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(renewer);
      wake?.();
      await running;
      // Work a service left running in the background (the hot-table vacuum) ends first.
      await Promise.all(o.services.map((s) => s.settled?.()));
      if (leading) {
        // A lease that cannot be released expires on its own; another holder waits it out.
        await releaseLeadership(sql, o.holder).then(
          () => log.info("maintenance_leader_released", {}),
          (e) => log.warn("maintenance_leader_release_failed", { error: e }),
        );
        leading = false;
      }
    },
  };
}
