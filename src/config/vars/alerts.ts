/** Thresholds of the alerts and table-health warnings that maintenance evaluates. */
import { duration, int, ratio, showDuration } from "../parse.ts";
import { v } from "../spec.ts";

export const ALERT_VARS = {
  alertStaleHeartbeatRatio: v({
    name: "SLUICE_ALERT_STALE_HEARTBEAT_RATIO",
    default: "0.25",
    parse: ratio,
    description: "Alert when this share of running jobs missed heartbeats for 5m; default 0.25",
  }),
  alertCallbackFailureRatio: v({
    name: "SLUICE_ALERT_CALLBACK_FAILURE_RATIO",
    default: "0.10",
    parse: ratio,
    description: "Alert when this share of callbacks failed or were refused over 10m; default 0.10",
  }),
  alertRetrySuccessRate: v({
    name: "SLUICE_ALERT_RETRY_SUCCESS_RATE",
    default: "0.70",
    parse: ratio,
    description: "Alert when fewer retried jobs than this succeed over 30m; default 0.70",
  }),
  alertSuccessRate: v({
    name: "SLUICE_ALERT_SUCCESS_RATE",
    default: "0.90",
    parse: ratio,
    description: "Alert when fewer finished jobs than this succeed over 30m; default 0.90",
  }),
  alertDepthGrowthMs: v({
    name: "SLUICE_ALERT_DEPTH_GROWTH_FOR",
    default: "15m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "Alert when a queue's runnable depth grew at every sample (one per 1/15) for this long; 15m",
  }),
  alertDlqGrowth: v({
    name: "SLUICE_ALERT_DLQ_GROWTH",
    default: "1",
    parse: int({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    description: "Alert when at least this many jobs of a queue died in the last 10m; default 1",
  }),
  xminHorizonWarnMs: v({
    name: "SLUICE_XMIN_HORIZON_WARN",
    default: "10m",
    parse: duration({ min: 1_000 }),
    show: showDuration,
    description:
      "Warn when the oldest transaction holding back vacuum (xmin) is older than this; 10m",
  }),
  deadTupleRatioWarn: v({
    name: "SLUICE_DEAD_TUPLE_RATIO_WARN",
    default: "0.2",
    parse: ratio,
    description: "Warn when this share of the jobs table's tuples are dead (bloat); default 0.2",
  }),
};
