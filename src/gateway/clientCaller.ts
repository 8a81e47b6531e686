/**
 * The balanced caller behind `POST /call` and `switchboard call`: the Switchboard client (registry
 * cache, strategies, retries, circuit breakers).
 */
import { CallError, isStrategyName, type CallOptions, type Client, type StrategyName } from "../client/index.js";
import { ErrorCode } from "../protocol/index.js";
import type { GatewayCaller } from "./types.js";

/** Per-caller defaults. */
export interface ClientCallerOptions {
  /** Balancing strategy (default: the client's). */
  strategy?: StrategyName | string;
  /** Calls may be retried after a timeout. */
  idempotent?: boolean;
}

/** Longest single attempt by default: a whole budget may be longer, leaving room for retries elsewhere. */
const MAX_ATTEMPT_MS = 5000;

/** A call's failure with the code an operator expects: an unknown service is NOT_FOUND, not UNAVAILABLE. */
export class UnknownServiceError extends Error {
  readonly code = ErrorCode.NOT_FOUND;
}

/**
 * Wraps a client as a {@link GatewayCaller}: the budget becomes the call's deadline. A service the
 * registry does not list gets one attempt on the queue-group subject (it may run without a
 * coordinator); when nobody answers there either, the call fails at once as NOT_FOUND instead of
 * retrying for the whole budget.
 */
export function clientCaller(client: Client, opts: ClientCallerOptions = {}): GatewayCaller {
  const registry = client.registry;
  return {
    async call(service, endpoint, payload, o) {
      const callOpts: CallOptions = { deadlineMs: o.deadlineMs, timeoutMs: Math.min(o.deadlineMs, o.timeoutMs ?? MAX_ATTEMPT_MS) };
      if (o.key !== undefined) callOpts.key = o.key;
      if (o.version !== undefined) callOpts.version = o.version;
      if (o.tags !== undefined) callOpts.tags = o.tags;
      if (o.zone !== undefined) callOpts.zone = o.zone;
      if (o.headers !== undefined) callOpts.headers = o.headers;
      const strategy = o.strategy ?? opts.strategy;
      if (strategy !== undefined && isStrategyName(strategy)) callOpts.strategy = strategy;
      if (o.idempotent ?? opts.idempotent) callOpts.idempotent = true;
      const listed = registry ? registry.instances(service).length > 0 : true;
      if (o.maxAttempts !== undefined) callOpts.maxAttempts = o.maxAttempts;
      if (!listed) callOpts.maxAttempts = 1;
      try {
        return await client.call(service, endpoint, payload, callOpts);
      } catch (err) {
        if (!listed && err instanceof CallError && err.attempts.length > 0 && err.attempts.every((a) => a.outcome === "no-responders")) {
          throw new UnknownServiceError(`no instance of ${service} is registered, and nothing serves ${endpoint} on its queue-group subject`);
        }
        throw err;
      }
    },
    liveServices(candidates) {
      if (!registry) return undefined;
      return candidates.filter((s) => registry.instances(s).length > 0);
    },
    close: () => client.stop(),
  };
}
