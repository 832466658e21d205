/**
 * The worker's observability port (SLUICE_WORKER_METRICS_ADDR): `GET /healthz` (liveness, with
 * version, commit and what `health` adds: in flight, held and waiting per served queue,
 * src/worker/health.ts; `/health` is an alias) and `GET /metrics/prom` (Prometheus text;
 * `/metrics` is an alias). Plain `Deno.serve`, no auth: it binds 127.0.0.1 by default and carries
 * no job data (queue names and counts only). A port already in use is logged and the worker runs
 * on without it: losing metrics must never stop job processing.
 */
import type { ListenAddr } from "../config/parse.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./metrics.ts";
import { exposition, PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
import { versionInfo } from "../version.ts";

export interface WorkerServer {
  /** The bound address (the real port when 0 was asked for). */
  addr: ListenAddr;
  close(): Promise<void>;
}

export function startWorkerServer(
  { addr, registry, log, health, seriesServedBy = null }: {
    addr: ListenAddr;
    registry: Registry;
    log: Logger;
    health: () => object | Promise<object>;
    /**
     * Where this process's series are exported instead (`sluice up`: the api's /metrics/prom,
     * which shares the registry). Then /metrics/prom here answers with no series, only a comment
     * naming that URL, so summing every scraped target counts each job once.
     */
    seriesServedBy?: string | null;
  },
): WorkerServer | null {
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    if (path === "/healthz" || path === "/health") {
      const { version, commit } = versionInfo();
      return Response.json({ status: "ok", version, commit, ...await health() });
    }
    if (path === "/metrics/prom" || path === "/metrics") {
      if (seriesServedBy !== null) {
        return new Response(
          `# This process's series (worker included) are served by ${seriesServedBy}\n`,
          { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } },
        );
      }
      try {
        return new Response(await exposition(registry), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        });
      } catch (e) {
        log.warn("metrics_failed", { error: e });
        return new Response("metrics unavailable\n", { status: 503 });
      }
    }
    return new Response("not found\n", { status: 404 });
  };
  try {
    const server = Deno.serve({
      hostname: addr.hostname,
      port: addr.port,
      onListen: () => {},
    }, handler);
    const bound = server.addr as Deno.NetAddr;
    const actual = { hostname: addr.hostname, port: bound.port };
    log.info("worker_metrics_listening", { addr: `${actual.hostname}:${actual.port}` });
    return { addr: actual, close: () => server.shutdown() };
  } catch (e) {
    log.warn("worker_metrics_unavailable", {
      addr: `${addr.hostname}:${addr.port}`,
      error: e,
      detail: "the worker runs without its metrics port",
    });
    return null;
  }
}
