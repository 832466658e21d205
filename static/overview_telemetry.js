// Exporter health on the overview: per OTLP signal what was exported, failed and dropped, and
// the last error. Nothing at all while export is off (no endpoint is set), so an appliance
// without a collector is not told about one.
import { dataTable, h, time } from "./dom.js";
import { fmt } from "./format.js";

/** @param {{enabled: boolean, protocol: string|null, signals: any[]}} t */
export function telemetryPanel(t) {
  if (!t.enabled) return null;
  return [
    h("h2", {}, `Telemetry export (OTLP ${t.protocol ?? ""})`.replace(" )", ")")),
    dataTable(
      { dataset: { table: "telemetry" } },
      [
        { label: "Signal", cell: (s) => s.signal },
        { label: "Exported", cls: "num", cell: (s) => fmt(s.itemsExported) },
        {
          label: "Failed exports",
          cls: "num",
          cell: (s) => h("span", { class: s.exportsFailed ? "s-dead" : "" }, fmt(s.exportsFailed)),
        },
        { label: "Dropped", cls: "num", cell: (s) => fmt(s.itemsDropped) },
        { label: "Last success", cell: (s) => time(s.lastSuccessAt) },
        {
          label: "Last error",
          cell: (s) =>
            s.lastError ? [h("code", {}, s.lastError.message), " ", time(s.lastError.at)] : "—",
        },
      ],
      t.signals,
      (s) => ({ dataset: { signal: s.signal, failed: String(s.exportsFailed) } }),
    ),
  ];
}
