/** What the gateway's routes share: the connection, subjects, budgets, the caller, a rate-limited log. */
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, statusForCode, type Logger, type Subjects } from "../protocol/index.js";
import { HttpError } from "./HttpError.js";
import { RegistryRequestError, RegistryUnavailableError } from "./RegistryRequests.js";
import type { GatewayCaller } from "./types.js";

/** The running gateway as its routes see it. */
export interface GatewayContext {
  readonly subjects: Subjects;
  /** Budget of registry requests and default deadline of calls, ms. */
  readonly timeoutMs: number;
  /** Lifetime of registrations that name neither a TTL nor a health check (undefined: durable). */
  readonly registerTtlMs: number | undefined;
  readonly log: Logger;
  /** The NATS connection, or a 503 when there is none. */
  nats(): NatsConnection;
  /** The caller, or a 503 before start. */
  caller(): GatewayCaller;
  /** An increasing counter, to rotate ties between equally good choices. */
  turn(): number;
}

/** Maps registry failures to HTTP: no coordinator → 503, a timeout → 504, a coordinator's error reply → its status. */
export function registryFailure(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RegistryUnavailableError) {
    return err.reason === "timeout" ? new HttpError(504, ErrorCode.TIMEOUT, err.message) : new HttpError(503, ErrorCode.UNAVAILABLE, err.message);
  }
  if (err instanceof RegistryRequestError) return new HttpError(statusForCode(err.code), err.code, err.message);
  return new HttpError(502, "BAD_GATEWAY", `registry request failed: ${(err as Error).message}`);
}

/** A call's failure (typed client error or anything with a `code`) as an HTTP error with the mapped status. */
export function callFailure(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : ErrorCode.INTERNAL;
  const message = err instanceof Error ? err.message : String(err);
  return new HttpError(statusForCode(code), /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : ErrorCode.INTERNAL, message);
}
