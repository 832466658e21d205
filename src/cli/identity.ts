import { addIdentity, listIdentities, revokeIdentity } from "../auth/identities.ts";
import { listSigningKeys, rotateSigningKey } from "../auth/push_keys.ts";
import { assertScope, SCOPES } from "../auth/tokens.ts";
import { oidcVerifiers } from "../auth/oidc_setup.ts";
import { verifyCallbackCaller } from "../delivery/callback_identity.ts";
import { IdTokenAuthenticator } from "../api/id_token_auth.ts";
import { SluiceError } from "../errors.ts";
import { silentLogger } from "../obs/log.ts";
import { Registry } from "../obs/metrics.ts";
import type { Config } from "../config/vars.ts";
import type { Sql } from "../db/connect.ts";
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
  check --token-file F [--for api|callback]
                       verify an ID token (F: a file, - for stdin) as the api (default) or the
                       callback endpoint would, with this environment's SLUICE_OIDC_* and
                       SLUICE_CALLBACK_OIDC_*: prints the caller or the refusal code (exit 1)

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
          "token-file": { type: "string" },
          for: { type: "string" },
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
        "token-file"?: string;
        for?: string;
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
        case "check": {
          noArgs();
          const use = v.for ?? "api";
          if (use !== "api" && use !== "callback") {
            throw new UsageError(`--for: "${use}" is not api or callback`);
          }
          if (!v["token-file"]) throw new UsageError("missing --token-file (- reads stdin)");
          const jwt = (v["token-file"] === "-"
            ? await new Response(Deno.stdin.readable).text()
            : await Deno.readTextFile(v["token-file"])).trim();
          const caller = await withOperatorDb((sql, { config }) =>
            checkIdToken(sql, config, jwt, use)
          );
          if (v.json) {
            printJson(caller);
          } else {console.log(
              `accepted ${use === "api" ? "as an API caller" : "for callbacks"}: ${caller.who}`,
            );}
          return EXIT_OK;
        }
        default:
          throw new UsageError(
            sub
              ? `unknown subcommand '${sub}'`
              : "missing subcommand (add, list, revoke, rotate-signing-key, signing-keys, check)",
          );
      }
    } catch (e) {
      return reportError(e);
    }
  },
};

/** What the api (or the callback endpoint) would make of `jwt`; throws its refusal. */
async function checkIdToken(
  sql: Sql,
  config: Config,
  jwt: string,
  use: "api" | "callback",
): Promise<{ who: string; scope?: string }> {
  const verifiers = oidcVerifiers(config, silentLogger);
  const verifier = use === "api" ? verifiers?.api : verifiers?.callback;
  if (!verifier) {
    throw new SluiceError(
      "CONFIG_INVALID",
      use === "api"
        ? "ID tokens are not accepted by the api: set SLUICE_OIDC_ISSUER and SLUICE_OIDC_AUDIENCE"
        : "callbacks take no ID tokens: set SLUICE_OIDC_ISSUER and SLUICE_CALLBACK_OIDC_AUDIENCE",
    );
  }
  if (use === "callback") {
    const p = await verifyCallbackCaller(sql, {
      verifier,
      mode: config.callbackOidcMode,
      emails: config.callbackOidcEmails,
      subjects: config.callbackOidcSubjects,
    }, jwt);
    return { who: `subject '${p.subject}'${p.verifiedEmail ? ` (${p.verifiedEmail})` : ""}` };
  }
  const auth = new IdTokenAuthenticator({
    sql,
    log: silentLogger,
    verifier,
    registry: new Registry(),
    cacheMs: 0,
  });
  const t = await auth.authenticate(jwt, null);
  return { who: `${t.name} (${t.scope})`, scope: t.scope };
}
