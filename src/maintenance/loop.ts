import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import { promoteDueJobs } from "../queue/promote.ts";
import { reapExpiredLeases } from "../queue/rescue.ts";

export interface MaintenanceLoop {
  stop(): Promise<void>;
}

/** A maintenance pass: one service, its counts for the log line. */
export interface MaintenanceService {
  name: string;
  run(sql: Sql): Promise<Record<string, number>>;
}

export const CORE_SERVICES: MaintenanceService[] = [
  { name: "reaper", run: (sql) => reapExpiredLeases(sql) },
  { name: "promoter", run: (sql) => promoteDueJobs(sql) },
];

/**
 * Runs every service once per interval until stopped. A failing service is logged and the
 * others still run; the loop never dies with the database (the next pass tries again).
 */
export function startMaintenanceLoop(
  sql: Sql,
  { intervalMs, log, services = CORE_SERVICES }: {
    intervalMs: number;
    log: Logger;
    services?: MaintenanceService[];
  },
): MaintenanceLoop {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | null = null;
  const pass = async () => {
    for (const s of services) {
      if (stopped) return;
      const t0 = performance.now();
      try {
        const counts = await s.run(sql);
        if (Object.values(counts).some((n) => n > 0)) {
          log.info("maintenance_pass", {
            service: s.name,
            ...counts,
            duration_ms: Math.round(performance.now() - t0),
          });
        }
      } catch (e) {
        log.error("maintenance_failed", { service: s.name, error: e });
      }
    }
  };
  const running = (async () => {
    while (!stopped) {
      await pass();
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, intervalMs);
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await running;
    },
  };
}
