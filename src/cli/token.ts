import { assertScope, createToken, listTokens, revokeToken, SCOPES } from "../auth/tokens.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { onePositional, withOperatorDb } from "./_operator.ts";
import { formatTime, printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice token <subcommand> [options] [--json]

API tokens, straight against the database. A token is shown once, when it is created; only
its SHA-256 hash is stored.

Subcommands:
  create --name N --scope S   create a token and print it (scopes: ${SCOPES.join(", ")})
  list                        names, scopes, created, last used, revoked
  revoke NAME                 revoke a token (the api stops accepting it within seconds)

Scopes: admin (everything), producer (enqueue; sees, retries and cancels only its own jobs),
worker (pull-worker lease/heartbeat/complete/fail), read (read-only).

Options:
  --json    machine-readable output
  -h, --help
`;

export const tokenCommand: Command = {
  name: "token",
  summary: "create, list and revoke API tokens",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(
        args,
        {
          name: { type: "string" },
          scope: { type: "string" },
          json: { type: "boolean" },
        },
        HELP,
        { allowPositionals: true },
      );
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values as { name?: string; scope?: string; json?: boolean };
      switch (sub) {
        case "create": {
          if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
          if (!v.name) throw new UsageError("missing --name");
          if (!v.scope) throw new UsageError(`missing --scope (one of ${SCOPES.join(", ")})`);
          const scope = assertScope(v.scope);
          const { token, record } = await withOperatorDb((sql) =>
            createToken(sql, { name: v.name!, scope })
          );
          if (v.json) printJson({ token, ...record });
          else {
            console.log(token);
            console.error(
              `token '${record.name}' (${record.scope}) created: store it now, it is not shown again`,
            );
          }
          return EXIT_OK;
        }
        case "list": {
          if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
          const tokens = await withOperatorDb((sql) => listTokens(sql));
          if (v.json) printJson(tokens);
          else {
            printTable(tokens.map((t) => ({
              name: t.name,
              scope: t.scope,
              created: formatTime(t.createdAt),
              "last used": formatTime(t.lastUsedAt),
              revoked: formatTime(t.revokedAt),
            })));
          }
          return EXIT_OK;
        }
        case "revoke": {
          const name = onePositional(rest, "token name");
          const t = await withOperatorDb((sql) => revokeToken(sql, name));
          if (v.json) printJson(t);
          else console.log(`token '${t.name}' revoked`);
          return EXIT_OK;
        }
        default:
          throw new UsageError(
            sub ? `unknown subcommand '${sub}'` : "missing subcommand (create, list, revoke)",
          );
      }
    } catch (e) {
      return reportError(e);
    }
  },
};
