/**
 * One self-rewriting progress line on stderr for long transfers (backup, restore): shown only
 * when stderr is a terminal and the user did not ask for quiet, so scripts and logs get none.
 */
import type { TransferProgress } from "../backup/backup.ts";

export interface ProgressLine {
  update(p: TransferProgress): void;
  /** Clears the line; the command prints its own summary. */
  done(): void;
}

const REDRAW_MS = 200;

export function progressLine(
  verb: string,
  { quiet, totalArchiveBytes }: { quiet: boolean; totalArchiveBytes?: number },
): ProgressLine {
  let tty = false;
  try {
    tty = Deno.stderr.isTerminal();
  } catch { /* not a terminal */ }
  if (quiet || !tty) return { update() {}, done() {} };
  const t0 = performance.now();
  let last = 0;
  let shown = false;
  const enc = new TextEncoder();
  return {
    update(p) {
      const now = performance.now();
      if (now - last < REDRAW_MS && p.tablesDone < p.tablesTotal) return;
      last = now;
      const secs = Math.max((now - t0) / 1000, 0.001);
      const pct = totalArchiveBytes
        ? ` ${Math.min(100, (100 * p.archiveBytes) / totalArchiveBytes).toFixed(0)}%`
        : "";
      const line = `${verb}${pct}: tables ${p.tablesDone}/${p.tablesTotal}` +
        (p.table ? ` (${p.table})` : "") +
        `, ${p.rows.toLocaleString("en-US")} rows, ${formatBytes(p.bytes)}` +
        ` (${formatBytes(p.archiveBytes)} archive), ` +
        `${Math.round(p.rows / secs).toLocaleString("en-US")} rows/s`;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2K${line}`));
      shown = true;
    },
    done() {
      if (shown) Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
