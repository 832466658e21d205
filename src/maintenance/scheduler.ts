import type { EngineDefaults } from "../queue/queues.ts";
import { fireDueSchedules } from "../queue/schedules.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * The scheduler: fires due cron schedules, once per slot (src/queue/schedules.ts). Its interval
 * is how late past its slot a schedule's job may be enqueued.
 */
export function scheduler(
  { everyMs, defaults }: Every & { defaults: EngineDefaults },
): MaintenanceService {
  return {
    name: "scheduler",
    everyMs,
    run: async (sql, { now }) => ({ ...await fireDueSchedules(sql, { now, defaults }) }),
  };
}
