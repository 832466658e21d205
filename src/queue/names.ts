import { SluiceError } from "../errors.ts";

const QUEUE_NAME = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
// Printable: no C0/C1 control characters.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function isQueueName(name: unknown): name is string {
  return typeof name === "string" && name.length <= 64 && QUEUE_NAME.test(name);
}

export function assertQueueName(name: unknown): string {
  return assertName(name, "queue", "INVALID_QUEUE_NAME");
}

/** A queue or topic name (both follow the queue-name rule), or the refusal naming which. */
export function assertName(
  name: unknown,
  what: "queue" | "topic",
  code: "INVALID_QUEUE_NAME" | "VALIDATION_FAILED",
): string {
  if (!isQueueName(name)) {
    throw new SluiceError(
      code,
      `${what} name ${
        JSON.stringify(name)
      } is invalid: use lowercase letters and digits separated by '.', '_' or '-', at most 64 characters`,
      { [what]: name },
    );
  }
  return name;
}

export function assertKind(kind: unknown): string {
  if (
    typeof kind !== "string" || kind.length === 0 || kind.length > 128 || CONTROL.test(kind) ||
    !kind.isWellFormed()
  ) {
    throw new SluiceError(
      "INVALID_KIND",
      `kind ${JSON.stringify(kind)} is invalid: use 1 to 128 printable characters`,
      { kind },
    );
  }
  return kind;
}
