/**
 * The command registry. To add a subcommand: write `src/cli/<name>.ts` exporting a `Command`,
 * import it here and append it to `COMMANDS`. Names listed in `COMMAND_GROUPS` land in that
 * group of `sluice help`; any other registered command shows under "Other".
 */
import type { Command } from "./_command.ts";
import { configCommand } from "./config_check.ts";
import { jobsCommand } from "./jobs.ts";
import { queueCommand } from "./queue.ts";
import { upCommand } from "./up.ts";
import { workerCommand } from "./worker.ts";
import { migrateCommand } from "./migrate.ts";
import { versionCommand } from "./version.ts";
import { backupCommand } from "./backup.ts";
import { restoreCommand } from "./restore.ts";
import { systemdCommand } from "./systemd.ts";
import { apiCommand } from "./api.ts";
import { tokenCommand } from "./token.ts";
import { identityCommand } from "./identity.ts";
import { dlqCommand } from "./dlq.ts";
import { maintenanceCommand } from "./maintenance.ts";
import { scheduleCommand } from "./schedule.ts";
import { workflowCommand } from "./workflow.ts";
import { batchCommand } from "./batch.ts";
import { verifyCommand } from "./verify.ts";
import { smokeCommand } from "./smoke.ts";
import { topicCommand } from "./topic.ts";

export const COMMANDS: readonly Command[] = [
  upCommand,
  workerCommand,
  jobsCommand,
  queueCommand,
  migrateCommand,
  configCommand,
  versionCommand,
  backupCommand,
  restoreCommand,
  systemdCommand,
  apiCommand,
  tokenCommand,
  identityCommand,
  dlqCommand,
  maintenanceCommand,
  scheduleCommand,
  workflowCommand,
  batchCommand,
  verifyCommand,
  smokeCommand,
  topicCommand,
];

/** Groups for `sluice help`, in display order; `help` itself is handled by the dispatcher. */
export const COMMAND_GROUPS: readonly { title: string; names: readonly string[] }[] = [
  { title: "Roles", names: ["up", "api", "worker", "maintenance"] },
  {
    title: "Operations",
    names: [
      "jobs",
      "queue",
      "topic",
      "dlq",
      "schedule",
      "token",
      "identity",
      "workflow",
      "batch",
      "backup",
      "restore",
      "verify",
      "smoke",
    ],
  },
  { title: "Setup", names: ["migrate", "config", "systemd", "version", "help"] },
];
