/**
 * Option resolution of one call: the client's defaults overlaid with the call's options, validated.
 * Pure; throws `TypeError`/`RangeError` on invalid input, which the executor reports as
 * `BadRequestError` without sending anything.
 */
import { RetryPolicy, type BackoffOptions } from "./RetryPolicy.js";
import { isStrategyName, type RandomSource, type StrategyName } from "./strategies/index.js";
import type { CallOptions } from "./types.js";

/** Defaults every call starts from. */
export interface CallDefaults {
  strategy: StrategyName;
  timeoutMs: number;
  deadlineMs: number;
  maxAttempts: number;
  backoff: Required<BackoffOptions>;
}

/** A call's effective settings. */
export interface ResolvedCallOptions {
  strategy: StrategyName;
  timeoutMs: number;
  deadlineMs: number;
  policy: RetryPolicy;
  key: string | undefined;
  idempotent: boolean;
  headers: CallOptions["headers"];
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/**
 * The settings of a call with options `opts`. `defaultPolicy` is shared by every call that does not
 * change the attempts or the backoff (no allocation on the common path).
 */
export function resolveCallOptions(
  defaults: CallDefaults,
  defaultPolicy: RetryPolicy,
  random: RandomSource,
  opts: CallOptions | undefined,
): ResolvedCallOptions {
  if (opts === undefined) {
    return {
      strategy: defaults.strategy,
      timeoutMs: defaults.timeoutMs,
      deadlineMs: defaults.deadlineMs,
      policy: defaultPolicy,
      key: undefined,
      idempotent: false,
      headers: undefined,
    };
  }
  let strategy = defaults.strategy;
  if (opts.strategy !== undefined) {
    if (!isStrategyName(opts.strategy)) throw new TypeError(`unknown strategy ${JSON.stringify(opts.strategy)}`);
    strategy = opts.strategy;
  }
  const timeoutMs = positive("timeoutMs", opts.timeoutMs, defaults.timeoutMs);
  const deadlineMs = positive("deadlineMs", opts.deadlineMs, defaults.deadlineMs);
  let policy = defaultPolicy;
  if (opts.maxAttempts !== undefined || opts.backoff !== undefined) {
    policy = new RetryPolicy(
      {
        maxAttempts: opts.maxAttempts ?? defaults.maxAttempts,
        baseMs: opts.backoff?.baseMs ?? defaults.backoff.baseMs,
        capMs: opts.backoff?.capMs ?? defaults.backoff.capMs,
      },
      random,
    );
  }
  return {
    strategy,
    timeoutMs,
    deadlineMs,
    policy,
    key: opts.key !== undefined && opts.key !== null ? String(opts.key) : undefined,
    idempotent: opts.idempotent === true,
    headers: opts.headers,
  };
}
