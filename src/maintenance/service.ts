import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";

export interface ServiceContext {
  log: Logger;
  /** Injected clock for tests; null = PostgreSQL's now(). */
  now: Date | null;
}

/**
 * One periodic maintenance service: its name (what SLUICE_MAINTENANCE_DISABLE names), how often
 * the leader runs it, and a pass returning counts for the `maintenance_pass` line. The SQL it
 * runs is a verb of the module that owns the table; the service only says when.
 */
export interface MaintenanceService {
  name: string;
  /** Pause between the end of one pass of this service and the next, ms. */
  everyMs: number;
  run(sql: Sql, ctx: ServiceContext): Promise<Record<string, number>>;
  /**
   * Counts that describe standing state rather than work done (alerts evaluated or firing): a
   * pass where only these are non-zero changed nothing, so its line is logged at debug.
   */
  state?: readonly string[];
  /** Resolves when work the service left running in the background is done. */
  settled?(): Promise<void>;
}

/** What every service factory takes: its interval. */
export interface Every {
  everyMs: number;
}
