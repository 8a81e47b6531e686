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
/** Request header naming the codec of the body (`raw`, `msgpack`, a user codec); absent means `json`. */
export const CODEC_HEADER = "Sb-Codec";

/** Symbolic error codes every Switchboard component understands. */
export const ErrorCode = {
  BAD_REQUEST: "BAD_REQUEST",
  NOT_FOUND: "NOT_FOUND",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  OVERLOADED: "OVERLOADED",
  INTERNAL: "INTERNAL",
  UNAVAILABLE: "UNAVAILABLE",
  TIMEOUT: "TIMEOUT",
  /** An HTTP service behind the bridge failed (5xx, reset, garbage): retried only for idempotent calls. */
  BAD_GATEWAY: "BAD_GATEWAY",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

// Maps, not object literals: a service-defined code such as `constructor` must not find Object.prototype.
const STATUS_BY_CODE: ReadonlyMap<string, number> = new Map([
  ["BAD_REQUEST", 400],
  ["NOT_FOUND", 404],
  ["PAYLOAD_TOO_LARGE", 413],
  ["OVERLOADED", 429],
  ["INTERNAL", 500],
  ["UNAVAILABLE", 503],
  ["TIMEOUT", 504],
]);
const CODE_BY_STATUS: ReadonlyMap<number, ErrorCode> = new Map([...STATUS_BY_CODE].map(([code, status]) => [status, code as ErrorCode]));

/** The bridge's code for a failed HTTP service: 502 out, but a bare 502 header in is still the responder's INTERNAL failure. */
const BAD_GATEWAY_STATUS = 502;

/** The HTTP-like status for a symbolic code; unknown (service-defined) codes map to 500. */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE.get(code) ?? (code === ErrorCode.BAD_GATEWAY ? BAD_GATEWAY_STATUS : 500);
}

/**
 * The symbolic code for an HTTP-like status, for replies that carry only the headers. A known status
 * maps to its code, another 4xx to `BAD_REQUEST`, 408 to `TIMEOUT`; anything else, including a status
 * that is not a number in 100–599 (a broken or hostile responder), is the responder's failure:
 * `INTERNAL`, never blamed on the caller's request.
 */
export function codeForStatus(status: number): ErrorCode {
  const known = CODE_BY_STATUS.get(status);
  if (known) return known;
  if (status === 408) return "TIMEOUT";
  if (Number.isInteger(status) && status >= 400 && status <= 499) return "BAD_REQUEST";
  return "INTERNAL";
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
