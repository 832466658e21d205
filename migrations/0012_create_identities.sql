-- Workload identity (issue #15): OIDC identities granted a scope, and the keys Sluice signs the
-- ID tokens of its http pushes with. Two new, small tables: plain statements in the
-- migration's one transaction.

-- An identity is granted explicitly: a valid ID token from the issuer is not enough, its
-- issuer + subject (or issuer + verified email) must have a live row here.
CREATE TABLE sluice.identities (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The caller's name in Sluice: what a token's name is (created_by, producer ownership of jobs
  -- and idempotency keys, rate limits, logs), shown as 'identity/<name>' so it never equals a
  -- token's name (token names cannot hold '/').
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 1024),
  subject text CHECK (length(subject) BETWEEN 1 AND 1024),
  email text CHECK (length(email) BETWEEN 3 AND 320 AND email = lower(email)),
  scope text NOT NULL CHECK (scope IN ('admin', 'producer', 'worker', 'read')),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Written in batches every few seconds by each api process, never once per request.
  last_used_at timestamptz,
  revoked_at timestamptz,
  CHECK ((subject IS NULL) <> (email IS NULL))
);
-- One live grant per name and per principal; a revoked row stays as history.
CREATE UNIQUE INDEX identities_name_idx ON sluice.identities (name) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX identities_subject_idx ON sluice.identities (issuer, subject)
  WHERE revoked_at IS NULL AND subject IS NOT NULL;
CREATE UNIQUE INDEX identities_email_idx ON sluice.identities (issuer, email)
  WHERE revoked_at IS NULL AND email IS NOT NULL;

-- The keys of the ID tokens Sluice mints for http pushes (Authorization: Bearer <JWT>). The
-- most recently created key whose signs_from has come signs; a rotation publishes the new key before it signs
-- (receivers and the api's JWKS cache see it first) and keeps the old ones published until
-- every token they signed has expired (published_until; NULL while a key is the newest).
CREATE TABLE sluice.push_signing_keys (
  kid text PRIMARY KEY CHECK (length(kid) BETWEEN 8 AND 128),
  alg text NOT NULL CHECK (alg IN ('ES256')),
  public_jwk jsonb NOT NULL,
  -- The private JWK as JSON text, or an AES-256-GCM envelope ('enc:v1:<iv>:<ciphertext>') when
  -- SLUICE_PUSH_KEY_SECRET is set.
  private_jwk text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  signs_from timestamptz NOT NULL DEFAULT now(),
  published_until timestamptz
);
-- One newest key: two workers creating the first key at once insert one row.
CREATE UNIQUE INDEX push_signing_keys_newest_idx ON sluice.push_signing_keys ((true))
  WHERE published_until IS NULL;
