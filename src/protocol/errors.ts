/**
 * Error codes and the NATS micro error convention.
 *
 * Errors travel as the NATS micro protocol expects, so any NATS service client understands
 * them: headers `Nats-Service-Error-Code` (an HTTP-like number) and `Nats-Service-Error`
 * (the message), plus a JSON body `{v, code, message}` carrying Switchboard's symbolic code.
 */

/** Header carrying the HTTP-like numeric code of an error reply (NATS micro convention). */
export const ERROR_CODE_HEADER = "Nats-Service-Error-Code";
/** Header carrying the human-readable message of an error reply (NATS micro convention). */
export const ERROR_MESSAGE_HEADER = "Nats-Service-Error";
/** Header with the absolute deadline of a call, in epoch milliseconds. */
export const DEADLINE_HEADER = "Sb-Deadline";

/** Symbolic error codes every Switchboard component understands. */
export const ErrorCode = {
  BAD_REQUEST: "BAD_REQUEST",
  NOT_FOUND: "NOT_FOUND",
  OVERLOADED: "OVERLOADED",
  INTERNAL: "INTERNAL",
  UNAVAILABLE: "UNAVAILABLE",
  TIMEOUT: "TIMEOUT",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const STATUS_BY_CODE: Record<string, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  OVERLOADED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};
const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: "BAD_REQUEST",
  404: "NOT_FOUND",
  429: "OVERLOADED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "TIMEOUT",
};

/** The HTTP-like status for a symbolic code; unknown (service-defined) codes map to 500. */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

/** The symbolic code for an HTTP-like status, for replies that carry only the headers. */
export function codeForStatus(status: number): ErrorCode {
  return CODE_BY_STATUS[status] ?? (status >= 500 ? "INTERNAL" : "BAD_REQUEST");
}

/** Codes a client may retry on another instance without knowing anything about the call. */
export function isRetryableCode(code: string): boolean {
  return code === "OVERLOADED" || code === "UNAVAILABLE";
}

/**
 * An error a handler can throw to choose the code of its error reply.
 * Anything else a handler throws becomes `INTERNAL` with the error's message.
 */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  /**
   * @param code symbolic code, e.g. `NOT_FOUND` or a service-defined `OUT_OF_STOCK`
   * @param message human-readable message sent to the caller
   * @param retryable whether a client may retry this call on another instance
   */
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}
