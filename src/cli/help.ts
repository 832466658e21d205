import type { Command } from "./_command.ts";
import { COMMAND_GROUPS } from "./commands.ts";

/** The dispatcher's own entry, so `help` shows in the listing beside the registered commands. */
export const HELP_SUMMARY = "show help for sluice or for one command";

export const HELP_HELP = `Usage: sluice help [command]

Without a command, lists every command by group. With one, prints that command's help (the
same as \`sluice <command> --help\`).
`;

/** `sluice help`: commands grouped as roles / operations / setup, with one-line summaries. */
export function renderHelp(commands: readonly Command[]): string {
  const rows = [...commands.map((c) => ({ name: c.name, summary: c.summary })), {
    name: "help",
    summary: HELP_SUMMARY,
  }];
  const width = Math.max(...rows.map((r) => r.name.length)) + 2;
  const grouped = new Set<string>();
  const sections: string[] = [];
  const section = (title: string, names: readonly string[]) => {
    const lines = names.flatMap((n) => {
      const row = rows.find((r) => r.name === n);
      if (!row) return [];
      grouped.add(n);
      return [`  ${row.name.padEnd(width)}${row.summary}`];
    });
    if (lines.length > 0) sections.push(`${title}:\n${lines.join("\n")}`);
  };
  for (const g of COMMAND_GROUPS) section(g.title, g.names);
  section("Other", rows.map((r) => r.name).filter((n) => !grouped.has(n)));

  return `Sluice: a self-hosted background-job appliance on PostgreSQL

Usage: sluice <command> [options]

${sections.join("\n\n")}

Run 'sluice help <command>' or 'sluice <command> --help' for a command's options.
Configuration comes from the environment: 'sluice config check --help' lists every variable.
Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`;
}
