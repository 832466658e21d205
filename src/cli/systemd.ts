import { basename, resolve } from "node:path";
import { CONFIG_VARS } from "../config/vars.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";

const HELP = `Usage: sluice systemd [--out DIR] [--user U] [--env-file F] [--bin PATH]
                      [--data-dir DIR] [--credentials-dir DIR] [--secret NAME]...

Writes hardened systemd unit files, one per role:

  sluice-migrate.service       oneshot: \`sluice migrate up\`; every role requires it and
                               starts after it, so a failed migration blocks the roles
  sluice-api.service           \`sluice api\`
  sluice-worker@.service       template, one process per instance: sluice-worker@1,
                               sluice-worker@2 … to scale, or sluice-worker@emails with
                               /etc/sluice/worker-emails.env (SLUICE_QUEUES, a distinct
                               SLUICE_WORKER_METRICS_ADDR) for a queue set
  sluice-maintenance.service   \`sluice maintenance\`

Each runs \`sluice config check --log\` first (ExecStartPre): a drifted environment blocks the start
and the reason is in the journal (journalctl -u sluice-api). Restart=on-failure with a delay
and a start limit; NoNewPrivileges, ProtectSystem=strict (only the data dir writable),
ProtectHome, PrivateTmp, no capabilities. Secrets are systemd credentials (LoadCredential),
never in the environment file: each --secret NAME is read from CREDENTIALS_DIR/<name> and
handed to Sluice as NAME_FILE=%d/<name>.

Options:
  --out DIR              where to write the units (default: current directory)
  --user U               system user the roles run as (default: sluice)
  --env-file F           EnvironmentFile with the non-secret settings
                         (default: /etc/sluice/sluice.env)
  --bin PATH             the sluice executable (default: this executable when compiled,
                         else /usr/local/bin/sluice)
  --data-dir DIR         SLUICE_DATA_DIR, the only writable path (default: /var/lib/sluice)
  --credentials-dir DIR  where the secret files live (default: /etc/sluice/credentials)
  --secret NAME          a secret variable to load as a credential; repeatable (default:
                         DATABASE_URL and SLUICE_SIGNING_SECRETS)
  -h, --help

Then:
  sudo cp sluice-*.service /etc/systemd/system/ && sudo systemctl daemon-reload
  sudo systemctl enable --now sluice-migrate sluice-api sluice-maintenance sluice-worker@1
`;

export interface SystemdOptions {
  user: string;
  envFile: string;
  bin: string;
  dataDir: string;
  credentialsDir: string;
  secrets: string[];
}

export const DEFAULT_SECRETS = ["DATABASE_URL", "SLUICE_SIGNING_SECRETS"];

export const systemdCommand: Command = {
  name: "systemd",
  summary: "write hardened systemd units for every role",
  help: HELP,
  async run(args: string[]): Promise<number> {
    try {
      const parsed = parseFlags(args, {
        out: { type: "string" },
        user: { type: "string" },
        "env-file": { type: "string" },
        bin: { type: "string" },
        "data-dir": { type: "string" },
        "credentials-dir": { type: "string" },
        secret: { type: "string", multiple: true },
      }, HELP);
      if (!parsed) return EXIT_OK;
      const v = parsed.values;
      const opts: SystemdOptions = {
        user: v.user ?? "sluice",
        envFile: absolute("env-file", v["env-file"] ?? "/etc/sluice/sluice.env"),
        bin: absolute("bin", v.bin ?? defaultBin()),
        dataDir: absolute("data-dir", v["data-dir"] ?? "/var/lib/sluice"),
        credentialsDir: absolute(
          "credentials-dir",
          v["credentials-dir"] ?? "/etc/sluice/credentials",
        ),
        secrets: v.secret ?? DEFAULT_SECRETS,
      };
      if (!/^[a-z_][a-z0-9_-]*$/i.test(opts.user)) {
        throw new UsageError(`--user: '${opts.user}' is not a valid user name`);
      }
      const known = new Set(CONFIG_VARS.map((c) => c.name));
      for (const s of opts.secrets) {
        if (!known.has(s)) throw new UsageError(`--secret: '${s}' is not a Sluice variable`);
      }
      const out = v.out ?? ".";
      await Deno.mkdir(out, { recursive: true });
      for (const [name, text] of Object.entries(systemdUnits(opts))) {
        await Deno.writeTextFile(`${out}/${name}`, text);
        console.log(`wrote ${out}/${name}`);
      }
      return EXIT_OK;
    } catch (e) {
      return reportError(e);
    }
  },
};

function absolute(flag: string, path: string): string {
  if (!path.startsWith("/")) throw new UsageError(`--${flag}: '${path}' is not an absolute path`);
  return resolve(path);
}

/** The compiled binary names itself; under `deno run` the conventional install path. */
function defaultBin(): string {
  const exe = Deno.execPath();
  return basename(exe).startsWith("deno") ? "/usr/local/bin/sluice" : exe;
}

/** Unit file name → text. Pure, for the tests. */
export function systemdUnits(o: SystemdOptions): Record<string, string> {
  return {
    "sluice-migrate.service": unit(o, {
      description: "Sluice database migrations",
      unit: [
        "Before=sluice-api.service sluice-maintenance.service",
        "After=network-online.target postgresql.service",
        "Wants=network-online.target",
      ],
      service: [
        "Type=oneshot",
        // Stays "active" after success, so the roles' Requires= sees it as satisfied.
        "RemainAfterExit=yes",
        `ExecStart=${o.bin} migrate up`,
      ],
      restart: false,
    }),
    "sluice-api.service": unit(o, {
      description: "Sluice HTTP API and ops page",
      unit: roleOrdering(),
      service: [`ExecStart=${o.bin} api`],
      restart: true,
    }),
    "sluice-worker@.service": unit(o, {
      description: "Sluice worker %i",
      unit: roleOrdering(),
      service: [
        // Per-instance settings (queues, concurrency, metrics port); optional.
        `EnvironmentFile=-${dirOf(o.envFile)}/worker-%i.env`,
        "Environment=SLUICE_WORKER_ID=%H-%i",
        `ExecStart=${o.bin} worker`,
      ],
      restart: true,
    }),
    "sluice-maintenance.service": unit(o, {
      description: "Sluice maintenance (reaper, scheduler, retention, alerts)",
      unit: roleOrdering(),
      service: [`ExecStart=${o.bin} maintenance`],
      restart: true,
    }),
  };
}

function roleOrdering(): string[] {
  return [
    "Requires=sluice-migrate.service",
    "After=sluice-migrate.service network-online.target postgresql.service",
    "Wants=network-online.target",
  ];
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function unit(
  o: SystemdOptions,
  u: { description: string; unit: string[]; service: string[]; restart: boolean },
): string {
  const credentials = o.secrets.map((s) => s.toLowerCase());
  const lines = [
    "# Written by `sluice systemd`. Secrets: one file per credential in " + o.credentialsDir,
    "# (mode 0600, owner root), e.g. database_url holding postgres://user:pass@host/db.",
    "[Unit]",
    `Description=${u.description}`,
    "Documentation=https://github.com/sluice/sluice#readme",
    ...u.unit,
    ...(u.restart ? ["StartLimitIntervalSec=300", "StartLimitBurst=10"] : []),
    "",
    "[Service]",
    `User=${o.user}`,
    `Group=${o.user}`,
    `EnvironmentFile=${o.envFile}`,
    `Environment=SLUICE_DATA_DIR=${o.dataDir}`,
    // The migrate unit migrates; a role never does it behind the operator's back.
    "Environment=SLUICE_MIGRATE_ON_STARTUP=false",
    "Environment=NO_COLOR=1",
    ...credentials.map((c) => `LoadCredential=${c}:${o.credentialsDir}/${c}`),
    ...o.secrets.map((s, i) => `Environment=${s}_FILE=%d/${credentials[i]}`),
    `WorkingDirectory=${o.dataDir}`,
    ...(o.dataDir.startsWith("/var/lib/") ? [`StateDirectory=${o.dataDir.slice(9)}`] : []),
    `ExecStartPre=${o.bin} config check --log`,
    ...u.service,
    ...(u.restart
      ? ["Restart=on-failure", "RestartSec=5s", "TimeoutStopSec=45s", "KillSignal=SIGTERM"]
      : ["TimeoutStartSec=15min"]),
    "",
    "# Hardening: nothing but the data dir is writable, no privileges to gain.",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${o.dataDir}`,
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "SystemCallArchitectures=native",
    "UMask=0077",
    // No MemoryDenyWriteExecute: V8's JIT needs writable, executable memory.
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}
