-- Ops page sessions, kept server-side so that signing out, or revoking the token a session was
-- signed in with, ends it for good: across restarts and in every api process. The cookie stays
-- a signed {token hash, expiry, nonce}; the nonce is this table's key, looked up (joined to its
-- token) on every request the cookie authenticates, in place of the token-hash lookup it needed
-- before.
--
-- Only a new, small table: plain statements in the migration's one transaction (nothing here
-- touches sluice.jobs, so there is no index to build CONCURRENTLY).
CREATE TABLE sluice.sessions (
  id text PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 64),
  token_id bigint NOT NULL REFERENCES sluice.tokens (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  -- signed_out: DELETE /v1/session; token_revoked: `sluice token revoke`, or a changed
  -- SLUICE_BOOTSTRAP_TOKEN replacing the value the session was signed in with.
  revoked_reason text CHECK (revoked_reason IN ('signed_out', 'token_revoked')),
  CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_token_idx ON sluice.sessions (token_id) WHERE revoked_at IS NULL;
-- Sign-in deletes sessions long expired (rows are tiny and sign-ins rare: no maintenance service).
CREATE INDEX sessions_expires_idx ON sluice.sessions (expires_at);
