/** Serving the API on `SLUICE_API_ADDR` with `Deno.serve`: shared by `sluice api` and `sluice up`. */
import { showListenAddr } from "../config/parse.ts";
import type { Config } from "../config/vars.ts";
import type { Sql } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { Registry } from "../obs/metrics.ts";
import type { Telemetry } from "../obs/telemetry/mod.ts";
import { pruneEnqueueWindows } from "../queue/admission.ts";
import type { EngineDefaults } from "../queue/queues.ts";
import {
  createToken,
  hasActiveAdminToken,
  listTokens,
  upsertBootstrapToken,
} from "../auth/tokens.ts";
import { isLoopbackHost } from "./_cidr.ts";
import { createApiContext, createApp } from "./app.ts";

export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:8080` (the real port when 0 was asked for). */
  url: string;
  /** Set when this start created the first admin token: show it once, never log it. */
  createdAdminToken: string | null;
  /** Stops accepting, lets in-flight requests finish, writes pending token use. */
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 10 * 60_000;

export async function startApiServer(
  { sql, config, log, defaults, createAdminIfMissing = false, registry, telemetry }: {
    sql: Sql;
    config: Config;
    log: Logger;
    defaults: EngineDefaults;
    /** A metrics registry shared with other roles of this process (`sluice up`). */
    registry?: Registry;
    /** The role's telemetry: request spans, exporter health in /health. */
    telemetry?: Telemetry;
    /** `sluice up` on first start: create one admin token when none exists and none is given. */
    createAdminIfMissing?: boolean;
  },
): Promise<ApiServer> {
  const addr = config.apiAddr;
  if (!addr) {
    throw new SluiceError(
      "CONFIG_INVALID",
      "SLUICE_API_ADDR is 'off': set it to a host:port such as 127.0.0.1:8080 to serve the API",
    );
  }
  if (config.bootstrapToken) await upsertBootstrapToken(sql, config.bootstrapToken);
  let createdAdminToken: string | null = null;
  if (createAdminIfMissing && !config.bootstrapToken && !(await hasActiveAdminToken(sql))) {
    const taken = new Set((await listTokens(sql)).map((t) => t.name));
    let name = "admin";
    for (let i = 2; taken.has(name); i++) name = `admin-${i}`;
    createdAdminToken = (await createToken(sql, { name, scope: "admin" })).token;
    log.info("admin_token_created", { name });
  }
  // Closed by default: a listener reachable from other hosts needs someone able to administer it.
  if (!isLoopbackHost(addr.hostname) && !(await hasActiveAdminToken(sql))) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `refusing to listen on '${
        showListenAddr(addr)
      }' (not loopback) while no admin token exists: create one with \`sluice token create --name admin --scope admin\` or set SLUICE_BOOTSTRAP_TOKEN`,
    );
  }
  const ctx = createApiContext({ sql, config, log, defaults, registry, telemetry });
  const app = createApp(ctx);
  // Pruning only bounds the size of the admission windows table: a failed pass is logged and
  // retried at the next interval, never a reason to stop serving.
  const pruneWindows = () =>
    pruneEnqueueWindows(sql).catch((e) => {
      log.warn("enqueue_windows_prune_failed", { error: e });
      return 0;
    });
  await pruneWindows();
  const prune = setInterval(pruneWindows, PRUNE_EVERY_MS);
  const abort = new AbortController();
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: addr.hostname,
    port: addr.port,
    signal: abort.signal,
    onListen: (a) => listening.resolve(a as Deno.NetAddr),
  }, app.fetch);
  server.finished.catch((e) => listening.reject(e));
  const bound = await listening.promise;
  const host = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
  const url = `http://${host}:${bound.port}`;
  log.info("api_listening", { url });
  return {
    url,
    createdAdminToken,
    close: async () => {
      clearInterval(prune);
      await server.shutdown();
      await ctx.auth.flush().catch(() => {});
      await ctx.idTokens?.flush().catch(() => {});
    },
  };
}
