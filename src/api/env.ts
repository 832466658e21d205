/**
 * The request-scoped types every api module shares. Kept apart from deps.ts (which names the
 * services) so a service can use them without importing the context that imports it.
 */
import type { Scope } from "../auth/tokens.ts";

/** The caller, once `authenticate` has accepted its bearer token. */
export interface ApiToken {
  id: string;
  name: string;
  scope: Scope;
  /** `identity`: an OIDC ID token of a granted identity (src/api/id_token_auth.ts). */
  kind?: "token" | "identity";
}

export type Env = {
  Variables: {
    token: ApiToken;
    requestId: string;
  };
};
