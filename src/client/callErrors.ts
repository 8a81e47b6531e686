/**
 * Error mapping of the call path: which error class a failed call ends with, given its last
 * attempt and why it gave up. Pure: builds errors from records, decides nothing about retries.
 */
import { BadReplyError, BadRequestError, CallError, RemoteError, TimeoutError, UnavailableError, type AttemptRecord } from "./errors.js";
import type { GiveUpEvent } from "./types.js";

/** Error-reply codes that say the instance is unwell (they count against its breaker). */
export function isInstanceFailureCode(code: string): boolean {
  return code === "INTERNAL" || code === "UNAVAILABLE" || code === "TIMEOUT" || code === "BAD_GATEWAY";
}

/** What {@link giveUpError} needs to know about the call. */
export interface GiveUpContext {
  service: string;
  endpoint: string;
  /** Attempts sent. */
  attempts: number;
  /** The policy's attempt limit (for the "all n attempts used" wording). */
  maxAttempts: number;
  idempotent: boolean;
}

/** The error a call ends with when it gives up for `reason` after `records` (the last one decides the class). */
export function giveUpError(call: GiveUpContext, records: AttemptRecord[], reason: GiveUpEvent["reason"]): CallError {
  const { service, endpoint } = call;
  const last = records[records.length - 1];
  const name = `${service}.${endpoint}`;
  const why =
    reason === "budget"
      ? " (retry budget exhausted)"
      : reason === "deadline"
        ? " (deadline reached)"
        : reason === "max-attempts"
          ? ` (all ${call.maxAttempts} attempts used)`
          : "";
  const n = call.attempts;
  const tries = `${n} attempt${n === 1 ? "" : "s"}`;
  if (last === undefined) {
    return new TimeoutError(`${name}: deadline reached before any attempt`, service, endpoint, records);
  }
  switch (last.outcome) {
    case "error-reply": {
      const code = last.code ?? "INTERNAL";
      if (code === "BAD_REQUEST") return new BadRequestError(last.message ?? "bad request", service, endpoint, records);
      if (code === "OVERLOADED" || code === "UNAVAILABLE") {
        return new UnavailableError(`${name}: ${code}: ${last.message ?? ""} after ${tries}${why}`, service, endpoint, records);
      }
      return new RemoteError(code, last.message ?? "", service, endpoint, records, last.retryable === true);
    }
    case "timeout":
      return new TimeoutError(
        `${name}: ${last.message ?? "no reply"} after ${tries}${why}${call.idempotent ? "" : "; not retried: the call is not marked idempotent"}`,
        service,
        endpoint,
        records,
      );
    case "bad-reply":
      return new BadReplyError(`${name}: ${last.message ?? "invalid reply"}`, service, endpoint, records);
    case "rejected":
      return new UnavailableError(`${name}: ${last.message ?? "every live instance is ejected (circuit open)"}; ${tries} made`, service, endpoint, records);
    default:
      return new UnavailableError(`${name}: ${describe(last)} after ${tries}${why}`, service, endpoint, records);
  }
}

/**
 * The error of an attempt that could not be sent at all: invalid input (a subject or header nats.js
 * refuses, a payload over max_payload) is the caller's `BAD_REQUEST`; anything else means no
 * connection to send on.
 */
export function sendFailureError(service: string, endpoint: string, err: unknown, records: AttemptRecord[]): CallError {
  const e = err as Error;
  const badInput = e?.name === "InvalidArgumentError" || e?.name === "InvalidSubjectError" || e instanceof TypeError;
  return badInput
    ? new BadRequestError(`${service}.${endpoint}: ${e.message}`, service, endpoint, records)
    : new UnavailableError(`${service}.${endpoint}: cannot send: ${e?.message ?? String(err)}`, service, endpoint, records);
}

function describe(rec: AttemptRecord): string {
  if (rec.outcome === "no-responders") return `no responders on ${rec.subject}`;
  return rec.message ?? rec.outcome;
}
