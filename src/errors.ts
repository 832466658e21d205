/**
 * Every failure Sluice reports is a `SluiceError` carrying one code from this closed list.
 * The HTTP layer maps codes to statuses in one place (`httpStatusOf`); the CLI maps them to
 * exit codes. Messages are sentence case without a final period, values quoted.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  INVALID_QUEUE_NAME: 400,
  INVALID_KIND: 400,
  MALFORMED_JSON: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHENTICATED: 401,
  /** An ops page session signed out (in another tab, or a copied cookie). */
  SESSION_REVOKED: 401,
  /** An ops page session whose token was revoked (or replaced) since sign-in. */
  TOKEN_REVOKED: 401,
  SIGNATURE_INVALID: 401,
  TIMESTAMP_OUT_OF_TOLERANCE: 401,
  /** OIDC ID tokens (src/auth/oidc_verifier.ts): each refusal has its own code, all 401. */
  TOKEN_MALFORMED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  AUDIENCE_MISMATCH: 401,
  ISSUER_MISMATCH: 401,
  ALGORITHM_NOT_ALLOWED: 401,
  EMAIL_NOT_VERIFIED: 401,
  /** A valid ID token whose issuer + subject/email is not granted (`sluice identity add`). */
  IDENTITY_NOT_ALLOWED: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  /** A dependsOn parent that does not exist, or is another producer's job. */
  PARENT_NOT_FOUND: 422,
  WORKFLOW_NOT_FOUND: 404,
  /** A workflow whose nodes name unknown keys or form a cycle. */
  WORKFLOW_INVALID: 400,
  BATCH_NOT_FOUND: 404,
  /** Jobs added to a batch that was already closed. */
  BATCH_CLOSED: 409,
  QUEUE_NOT_FOUND: 404,
  QUEUE_EXISTS: 409,
  QUEUE_PAUSED: 409,
  QUEUE_DRAINING: 409,
  SCHEDULE_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  SUBSCRIPTION_NOT_FOUND: 404,
  IDENTITY_NOT_FOUND: 404,
  STALE_LEASE: 409,
  NOT_RETRYABLE: 409,
  NOT_CANCELLABLE: 409,
  CALLBACK_REPLAYED: 409,
  CALLBACK_NOT_AWAITED: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  ENQUEUE_RATE_EXCEEDED: 429,
  QUEUE_FULL: 429,
  RATE_LIMITED: 429,
  DESTINATION_DENIED: 400,
  BATCH_TOO_LARGE: 413,
  DATABASE_UNAVAILABLE: 503,
  /** A statement of an API request ran past SLUICE_DB_STATEMENT_TIMEOUT (PostgreSQL cancelled it). */
  DATABASE_TIMEOUT: 504,
  NOT_READY: 503,
  /** The identity provider's keys could not be fetched and the last good ones are too old. */
  JWKS_UNAVAILABLE: 503,
  MIGRATIONS_PENDING: 503,
  MIGRATION_CHECKSUM_MISMATCH: 500,
  CONFIG_INVALID: 500,
  EMBEDDED_PG_UNAVAILABLE: 500,
  EMBEDDED_PG_RUNNING: 409,
  EMBEDDED_PG_NOT_RUNNING: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
  ARCHIVE_INVALID: 422,
  ARCHIVE_TOO_NEW: 409,
  RESTORE_TARGET_NOT_EMPTY: 409,
  BACKUP_UNSIGNED: 422,
  BACKUP_KEY_MISMATCH: 422,
  BACKUP_SIGNATURE_INVALID: 422,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class SluiceError extends Error {
  override readonly name = "SluiceError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}

export function isSluiceError(e: unknown, code?: ErrorCode): e is SluiceError {
  return e instanceof SluiceError && (code === undefined || e.code === code);
}
