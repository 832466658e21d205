/**
 * `sluice_migrations_pending{state}`: embedded migrations this build has that the database has
 * not applied (`pending`), or whose recorded checksum differs (`checksum_mismatch`). Non-zero
 * means a deploy's migration failed or was skipped; the shipped Prometheus rules page on it
 * (deploy/prometheus/sluice-rules.yaml). `sluice.schema_migrations` has a row per migration, so
 * reading it on every scrape costs one tiny query.
 */
import type { Sql } from "../db/connect.ts";
import { migrationStatus } from "../db/migrate.ts";
import type { Registry } from "./metrics.ts";

export function registerMigrationGauge(registry: Registry, sql: Sql): void {
  const gauge = registry.gauge(
    "sluice_migrations_pending",
    "Embedded migrations not applied to the database (pending) or edited (checksum_mismatch)",
    ["state"],
  );
  registry.onCollect(async () => {
    const status = await migrationStatus(sql);
    const count = (state: string) => status.filter((s) => s.state === state).length;
    gauge.replace(
      ["pending", "checksum_mismatch"].map((state) => ({ labels: { state }, value: count(state) })),
    );
  });
}
