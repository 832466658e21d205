/**
 * A callback's caller proven by an OIDC ID token (SLUICE_CALLBACK_OIDC_AUDIENCE): the workload
 * identity of the receiver that answered 202, instead of, or beside, the Standard Webhooks
 * signature (SLUICE_CALLBACK_OIDC_MODE either|both).
 *
 * Who may call back: the subjects and verified emails of SLUICE_CALLBACK_OIDC_SUBJECTS/_EMAILS
 * when either is set; otherwise identities granted `worker` or `admin` (`sluice identity add`).
 * Never "any token of the issuer": on a shared issuer (Google, a cluster) every workload holds
 * one for any audience it asks for.
 */
import { findGrant, type Principal } from "../auth/identities.ts";
import type { OidcVerifier } from "../auth/oidc_verifier.ts";
import type { Db } from "../db/connect.ts";
import { SluiceError } from "../errors.ts";

export interface CallbackIdentity {
  verifier: OidcVerifier;
  mode: "either" | "both";
  emails: readonly string[];
  subjects: readonly string[];
}

/** The `Authorization: Bearer …` value of a request, or null. */
export function bearerIn(header: string | null | undefined): string | null {
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header ?? "");
  return m ? m[1]! : null;
}

/** The verified, allowed caller of a callback; throws the refusal otherwise. */
export async function verifyCallbackCaller(
  sql: Db,
  ci: CallbackIdentity,
  bearer: string,
): Promise<Principal> {
  const { principal, claims } = await ci.verifier.verify(bearer);
  if (ci.emails.length > 0 || ci.subjects.length > 0) {
    if (ci.subjects.includes(principal.subject)) return principal;
    const email = principal.verifiedEmail?.toLowerCase();
    if (email && ci.emails.includes(email)) return principal;
    const claimed = typeof claims.email === "string" ? claims.email.toLowerCase() : null;
    if (claimed && !email && ci.emails.includes(claimed)) {
      throw new SluiceError(
        "EMAIL_NOT_VERIFIED",
        "the callback's ID token email is listed but not verified (email_verified is not true)",
        { subject: principal.subject },
      );
    }
    throw new SluiceError(
      "IDENTITY_NOT_ALLOWED",
      "the callback's ID token is not from a subject or email of SLUICE_CALLBACK_OIDC_SUBJECTS/_EMAILS",
      { subject: principal.subject },
    );
  }
  const grant = await findGrant(sql, principal);
  if (grant && (grant.scope === "worker" || grant.scope === "admin")) return principal;
  throw new SluiceError(
    "IDENTITY_NOT_ALLOWED",
    grant
      ? `identity '${grant.name}' has scope '${grant.scope}'; callbacks need worker or admin`
      : "no identity is granted to the callback's issuer and subject or email (sluice identity add --scope worker)",
    { subject: principal.subject },
  );
}
