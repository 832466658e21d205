/**
 * What a handler throws to say how its attempt failed. Anything else it throws counts as a
 * retryable `HANDLER_ERROR`.
 */
export class JobFailure extends Error {
  override readonly name = "JobFailure";
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | null;
  constructor(
    code: string,
    message: string,
    { retryable = true, retryAfterMs = null }: {
      retryable?: boolean;
      retryAfterMs?: number | null;
    } = {},
  ) {
    super(message);
    this.code = code;
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The attempt cannot succeed by retrying: the job goes to the dead-letter queue now. */
export function permanentFailure(message: string, code = "PERMANENT_FAILURE"): JobFailure {
  return new JobFailure(code, message, { retryable: false });
}

/** Ask for the next attempt after `ms` instead of the queue's backoff. */
export function retryAfter(
  ms: number,
  message = "handler asked to retry later",
  code = "RETRY_REQUESTED",
): JobFailure {
  return new JobFailure(code, message, { retryAfterMs: ms });
}
