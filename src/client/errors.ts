/**
 * Typed errors of `client.call`. Every one carries the service, the endpoint and the attempts made
 * (which instance, how each ended), so a caller can tell "nobody was there" from "the callee said no"
 * from "nobody answered in time", and an operator can see where the call went.
 */
import type { AttemptOutcome } from "./RetryPolicy.js";

/** One attempt of a call. */
export interface AttemptRecord {
  /** Instance id the attempt went to; null on the queue-group fallback (no registry data) or when nothing was sent. */
  instance: string | null;
  /** Subject the request was published on ("" when nothing was sent). */
  subject: string;
  /** How it ended. */
  outcome: AttemptOutcome;
  /** Error code of an error reply (`OVERLOADED`, `INTERNAL`, a service's own code…). */
  code?: string;
  /** Error message, for error replies, garbage replies and send failures. */
  message?: string;
  /** The callee marked its error reply retryable. */
  retryable?: boolean;
  /** Time from sending to the outcome, in ms. */
  durationMs: number;
}

/** Base class of every error `client.call` reports. */
export class CallError extends Error {
  override name = "CallError";
  constructor(
    /** Symbolic code: `UNAVAILABLE`, `TIMEOUT`, `BAD_REQUEST`, `BAD_REPLY`, or the callee's code for a {@link RemoteError}. */
    readonly code: string,
    message: string,
    readonly service: string,
    readonly endpoint: string,
    /** Attempts made, in order (empty when the call was refused before sending). */
    readonly attempts: readonly AttemptRecord[],
  ) {
    super(message);
  }
}

/**
 * No instance could take the call: nobody serves it (no responders), every live instance is ejected
 * (circuit open), instances kept refusing it as OVERLOADED/UNAVAILABLE, or the retry budget is spent.
 */
export class UnavailableError extends CallError {
  override name = "UnavailableError";
  constructor(message: string, service: string, endpoint: string, attempts: readonly AttemptRecord[]) {
    super("UNAVAILABLE", message, service, endpoint, attempts);
  }
}

/** No reply within the attempt timeout (non-idempotent calls are not retried) or the call's deadline. */
export class TimeoutError extends CallError {
  override name = "TimeoutError";
  constructor(message: string, service: string, endpoint: string, attempts: readonly AttemptRecord[]) {
    super("TIMEOUT", message, service, endpoint, attempts);
  }
}

/** The callee answered with an error: `code` and `message` are the callee's. */
export class RemoteError extends CallError {
  override name = "RemoteError";
  constructor(
    code: string,
    message: string,
    service: string,
    endpoint: string,
    attempts: readonly AttemptRecord[],
    /** Whether the callee marked the error retryable. */
    readonly retryable = false,
  ) {
    super(code, message, service, endpoint, attempts);
  }
}

/**
 * The request is invalid: an invalid service or endpoint name, a payload that cannot be sent as JSON
 * or is too large (nothing was sent), or the callee answered `BAD_REQUEST`.
 */
export class BadRequestError extends CallError {
  override name = "BadRequestError";
  constructor(message: string, service: string, endpoint: string, attempts: readonly AttemptRecord[]) {
    super("BAD_REQUEST", message, service, endpoint, attempts);
  }
}

/** A reply that is not valid JSON arrived (a rogue or broken responder on the subject). */
export class BadReplyError extends CallError {
  override name = "BadReplyError";
  constructor(message: string, service: string, endpoint: string, attempts: readonly AttemptRecord[]) {
    super("BAD_REPLY", message, service, endpoint, attempts);
  }
}
