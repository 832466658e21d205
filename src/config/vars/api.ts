/** The HTTP API: listen address, who may see what (tokens, sessions, proxies), limits, timeouts. */
import {
  bool,
  cidrList,
  duration,
  int,
  invalid,
  listenAddr,
  longSecret,
  orNull,
  showDuration,
  showListenAddr,
} from "../parse.ts";
import { v } from "../spec.ts";

function bootstrapToken(raw: string): string {
  const text = raw.trim();
  if (!text.startsWith("sluice_") || text.length < 32 || /\s/.test(text)) {
    invalid(
      `the token must start with "sluice_", be at least 32 characters and contain no spaces (got ${text.length} characters)`,
    );
  }
  return text;
}

export const API_VARS = {
  apiAddr: v({
    name: "SLUICE_API_ADDR",
    default: "127.0.0.1:8080",
    parse: listenAddr,
    show: (a) => a === null ? "off" : showListenAddr(a),
    nullLabel: "off",
    description:
      "HTTP API listen address host:port ([::1]:8080 for IPv6, port 0 = any); off disables",
  }),
  healthAllowlist: v({
    name: "SLUICE_HEALTH_ALLOWLIST",
    default: "",
    parse: cidrList,
    description: "CIDRs (CSV or JSON array) that see /health details without a token; default none",
  }),
  trustedProxies: v({
    name: "SLUICE_TRUSTED_PROXIES",
    default: "",
    parse: cidrList,
    description:
      "CIDRs (CSV or JSON array) of reverse proxies whose X-Forwarded-For names the client; default none (the socket's address)",
  }),
  maxBatchSize: v({
    name: "SLUICE_MAX_BATCH_SIZE",
    default: "10000",
    parse: int({ min: 1, max: 1_000_000 }),
    description: "Most jobs in one POST /v1/jobs/batch; default 10000",
  }),
  bootstrapToken: v({
    name: "SLUICE_BOOTSTRAP_TOKEN",
    default: null,
    secret: true,
    parse: bootstrapToken,
    description:
      "An admin token accepted as-is (stored hashed); sluice_ prefix, 32+ chars; for automation",
  }),
  sessionSecret: v({
    name: "SLUICE_SESSION_SECRET",
    default: null,
    secret: true,
    parse: longSecret,
    description:
      "Key for ops page session cookies, 32+ chars; unset = random per process (sessions end at restart; set it when several api processes share an address)",
  }),
  apiRequestTimeoutMs: v({
    name: "SLUICE_API_REQUEST_TIMEOUT",
    default: "30s",
    parse: duration({ min: 100 }),
    show: showDuration,
    description: "Longest an API request may take before it answers 504 TIMEOUT; default 30s",
  }),
  dbStatementTimeoutMs: v({
    name: "SLUICE_DB_STATEMENT_TIMEOUT",
    default: "5s",
    parse: orNull<number>("off", duration({ min: 10, max: 86_400_000 })),
    show: (ms) => ms === null ? "off" : showDuration(ms),
    nullLabel: "off",
    description:
      "Longest one database statement of an API request may run before it answers 504 DATABASE_TIMEOUT; off = none; 5s (maintenance, workers, migrate, backup and restore have none)",
  }),
  metricsPublic: v({
    name: "SLUICE_METRICS_PUBLIC",
    default: "false",
    parse: bool,
    description: "Serve /metrics and /metrics/prom without a token (true/false); default false",
  }),
  apiRateLimitPerMinute: v({
    name: "SLUICE_API_RATE_LIMIT",
    default: "6000",
    parse: orNull<number>("none", int({ min: 1, max: Number.MAX_SAFE_INTEGER })),
    show: (n) => n === null ? "none" : String(n),
    nullLabel: "none",
    description:
      "API requests per minute per token (or per IP when anonymous); none = no limit; 6000",
  }),
};
