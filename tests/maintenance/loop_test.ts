import { deepStrictEqual, equal } from "node:assert/strict";
import { existsSync } from "node:fs";
import { requireConfig } from "../../src/config/load.ts";
import { MAINTENANCE_SERVICE_NAMES } from "../../src/config/vars/maintenance.ts";
import { startMaintenanceLoop } from "../../src/maintenance/loop.ts";
import type { MaintenanceService } from "../../src/maintenance/service.ts";
import { maintenanceServices } from "../../src/maintenance/services.ts";
import { silentLogger } from "../../src/obs/log.ts";
import { withTestDatabase } from "../_helpers/db.ts";

/** A service that counts its passes and resolves `reached` on the `n`th. */
function counting(name: string, everyMs: number, n = Infinity) {
  let reachedFn = () => {};
  const reached = new Promise<void>((r) => reachedFn = r);
  const s = {
    runs: 0,
    reached,
    service: {
      name,
      everyMs,
      run: () => {
        if (++s.runs === n) reachedFn();
        return Promise.resolve({});
      },
    } satisfies MaintenanceService,
  };
  return s;
}

Deno.test("startMaintenanceLoop() runs each service at its own interval", async () => {
  await withTestDatabase(async (db) => {
    const fast = counting("fast", 10, 5);
    const slow = counting("slow", 3_600_000);
    const loop = startMaintenanceLoop(db.sql, {
      log: silentLogger,
      services: [fast.service, slow.service],
      holder: "loop-test",
      leaderTtlMs: 5_000,
    });
    try {
      await fast.reached;
    } finally {
      await loop.stop();
    }
    equal(slow.runs, 1, "the hourly service ran once, on the first pass only");
  });
});

Deno.test("maintenanceServices() lists one file per service in src/maintenance, each on SLUICE_MAINTENANCE_INTERVAL", () => {
  const { config } = requireConfig({
    DATABASE_URL: "postgres://x@localhost/x",
    SLUICE_MAINTENANCE_INTERVAL: "7s",
    SLUICE_SCRUB_PAYLOADS_AFTER: "30d",
  });
  const services = maintenanceServices(config);
  for (const s of services) {
    equal(existsSync(new URL(`../../src/maintenance/${s.name}.ts`, import.meta.url)), true, s.name);
    equal(s.everyMs, 7_000, s.name);
  }
  // Every name SLUICE_MAINTENANCE_DISABLE accepts is a service, in the pass order.
  deepStrictEqual(services.map((s) => s.name), [...MAINTENANCE_SERVICE_NAMES]);
  const { config: some } = requireConfig({
    DATABASE_URL: "postgres://x@localhost/x",
    SLUICE_MAINTENANCE_DISABLE: "reaper,scheduler,table_health",
  });
  deepStrictEqual(maintenanceServices(some).map((s) => s.name), [
    "promoter",
    "archiver",
    "pruner",
    "counter",
    "alerts",
    "vacuum",
  ]);
});
