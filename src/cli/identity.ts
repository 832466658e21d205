import { addIdentity, listIdentities, revokeIdentity } from "../auth/identities.ts";
import { listSigningKeys, rotateSigningKey } from "../auth/push_keys.ts";
import { assertScope, SCOPES } from "../auth/tokens.ts";
import { type Command, EXIT_OK, parseFlags, reportError, UsageError } from "./_command.ts";
import { durationFlag, onePositional, withOperatorDb } from "./_operator.ts";
import { formatTime, printJson, printTable } from "./_output.ts";

const HELP = `Usage: sluice identity <subcommand> [options] [--json]

Workload identities (OIDC), straight against the database. An identity is an issuer + subject,
or issuer + email (matched only when the token says email_verified: true), granted one scope:
a valid ID token alone grants nothing. The api accepts an identity's ID tokens as bearer
tokens when SLUICE_OIDC_ISSUER and SLUICE_OIDC_AUDIENCE are set; the caller is named
identity/<name> (job ownership, created_by, logs).

Subcommands:
  add --subject S | --email E --scope SCOPE [--issuer URL] [--name N]
                       grant a scope (${SCOPES.join(", ")}); --issuer defaults to
                       SLUICE_OIDC_ISSUER, --name to the email or subject
  list                 names, issuers, subjects/emails, scopes, created, last used, revoked
  revoke NAME          revoke an identity (the api stops accepting it within seconds)
  rotate-signing-key [--activate-after DURATION] [--compromised]
                       a new push signing key, published at /.well-known/jwks.json at once
                       and signing after --activate-after (default 2m, so every receiver's
                       cached key set has it first); the old key stays published until the
                       tokens it signed have expired. --compromised: the new key signs now
                       and the old ones are unpublished now (their tokens stop verifying)
  signing-keys         the push signing keys: kid, created, signs from, published until

Options:
  --json    machine-readable output
  -h, --help
`;

export const identityCommand: Command = {
  name: "identity",
  summary: "grant, list and revoke OIDC identities; rotate the push signing key",
  help: HELP,
  async run(args) {
    try {
      const parsed = parseFlags(
        args,
        {
          issuer: { type: "string" },
          subject: { type: "string" },
          email: { type: "string" },
          scope: { type: "string" },
          name: { type: "string" },
          "activate-after": { type: "string" },
          compromised: { type: "boolean" },
          json: { type: "boolean" },
        },
        HELP,
        { allowPositionals: true },
      );
      if (!parsed) return EXIT_OK;
      const [sub, ...rest] = parsed.positionals;
      const v = parsed.values as {
        issuer?: string;
        subject?: string;
        email?: string;
        scope?: string;
        name?: string;
        "activate-after"?: string;
        compromised?: boolean;
        json?: boolean;
      };
      const noArgs = () => {
        if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
      };
      switch (sub) {
        case "add": {
          noArgs();
          if (!v.subject === !v.email) throw new UsageError("give one of --subject or --email");
          if (!v.scope) throw new UsageError(`missing --scope (one of ${SCOPES.join(", ")})`);
          const scope = assertScope(v.scope);
          const record = await withOperatorDb((sql, { config }) => {
            const issuer = v.issuer ?? config.oidcIssuer;
            if (!issuer) throw new UsageError("missing --issuer (SLUICE_OIDC_ISSUER is unset)");
            return addIdentity(sql, { ...v, issuer, scope });
          });
          if (v.json) printJson(record);
          else {
            console.log(
              `identity '${record.name}' (${record.scope}) granted to ${
                record.subject ? `subject '${record.subject}'` : `email '${record.email}'`
              } of ${record.issuer}`,
            );
          }
          return EXIT_OK;
        }
        case "list": {
          noArgs();
          const all = await withOperatorDb((sql) => listIdentities(sql));
          if (v.json) printJson(all);
          else {
            printTable(all.map((i) => ({
              name: i.name,
              issuer: i.issuer,
              who: i.subject ? `sub ${i.subject}` : `email ${i.email}`,
              scope: i.scope,
              created: formatTime(i.createdAt),
              "last used": formatTime(i.lastUsedAt),
              revoked: formatTime(i.revokedAt),
            })));
          }
          return EXIT_OK;
        }
        case "revoke": {
          const i = await withOperatorDb((sql) =>
            revokeIdentity(sql, onePositional(rest, "identity name"))
          );
          if (v.json) printJson(i);
          else console.log(`identity '${i.name}' revoked`);
          return EXIT_OK;
        }
        case "rotate-signing-key": {
          noArgs();
          const r = await withOperatorDb((sql, { config }) =>
            rotateSigningKey(sql, {
              secret: config.pushKeySecret,
              tokenLifetimeMs: config.pushTokenLifetimeMs,
              activateAfterMs: durationFlag("activate-after", v["activate-after"]),
              compromised: v.compromised,
            })
          );
          if (v.json) printJson(r);
          else {
            console.log(
              `key '${r.next.kid}' is published and signs push tokens from ${
                formatTime(r.next.signsFrom)
              }`,
            );
            for (const k of r.retired) {
              console.log(`key '${k.kid}' stays published until ${formatTime(k.publishedUntil)}`);
            }
            if (!r.next.encrypted) {
              console.error(
                "warning: SLUICE_PUSH_KEY_SECRET is unset: the key is stored unencrypted",
              );
            }
          }
          return EXIT_OK;
        }
        case "signing-keys": {
          noArgs();
          const keys = await withOperatorDb((sql) => listSigningKeys(sql));
          if (v.json) printJson(keys);
          else {
            printTable(keys.map((k) => ({
              kid: k.kid,
              alg: k.alg,
              created: formatTime(k.createdAt),
              "signs from": formatTime(k.signsFrom),
              "published until": k.publishedUntil ? formatTime(k.publishedUntil) : "(newest)",
              encrypted: k.encrypted ? "yes" : "no",
            })));
          }
          return EXIT_OK;
        }
        default:
          throw new UsageError(
            sub
              ? `unknown subcommand '${sub}'`
              : "missing subcommand (add, list, revoke, rotate-signing-key, signing-keys)",
          );
      }
    } catch (e) {
      return reportError(e);
    }
  },
};
