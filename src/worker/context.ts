import type { Sql } from "../db/connect.ts";
import type { Logger } from "../obs/log.ts";
import type { AttemptEvent, Attempts } from "./attempt.ts";
import type { Clock } from "./clock.ts";

/** What the worker's services share: the pool, the worker's id, time, its log and attempts. */
export interface WorkerContext {
  sql: Sql;
  workerId: string;
  clock: Clock;
  log: Logger;
  attempts: Attempts;
  /** Called once per ended attempt: for metrics. */
  onAttempt?: (e: AttemptEvent) => void;
}
