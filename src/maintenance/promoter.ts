import { promoteDueJobs } from "../queue/promote.ts";
import type { Every, MaintenanceService } from "./service.ts";

/**
 * The promoter: scheduled and retrying jobs whose time came become available. Workers promote
 * on their own poll tick too; this one covers the time no worker runs.
 */
export function promoter({ everyMs }: Every): MaintenanceService {
  return { name: "promoter", everyMs, run: (sql, { now }) => promoteDueJobs(sql, { now }) };
}
