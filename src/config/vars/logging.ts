/** Log lines of every role: level and format. */
import { oneOf } from "../parse.ts";
import { v } from "../spec.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

export const LOGGING_VARS = {
  logLevel: v({
    name: "SLUICE_LOG_LEVEL",
    default: "info",
    parse: oneOf<LogLevel>(["debug", "info", "warn", "error"]),
    description: "debug, info, warn or error; default info",
  }),
  logFormat: v({
    name: "SLUICE_LOG_FORMAT",
    default: "json",
    parse: oneOf<LogFormat>(["json", "pretty"]),
    description: "json (one object per line) or pretty; default json",
  }),
};
