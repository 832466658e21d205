import { reapExpiredLeases } from "../queue/rescue.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * The reaper: jobs whose lease expired go back to available (or dead on their last attempt).
 * Its interval bounds how long a dead worker's jobs wait past their lease before a retry.
 */
export function reaper({ everyMs }: Every): MaintenanceService {
  return { name: "reaper", everyMs, run: (sql, { now }) => reapExpiredLeases(sql, { now }) };
}
