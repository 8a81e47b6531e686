/**
 * When and how long to wait before retrying a call (the seed's fault handling, made safe): at most
 * `maxAttempts` attempts; before attempt n+1 wait a random time in [0, min(n × baseMs, capMs)) —
 * the seed's linear, capped schedule with full jitter, so that callers failing together do not
 * retry together; retry only failures that are safe to repeat; never wait past the deadline.
 * Pure: the random source is injected.
 */
import { isRetryableCode } from "../protocol/index.js";
import type { RandomSource } from "./strategies/index.js";

/** Backoff schedule. */
export interface BackoffOptions {
  /** Step of the linear schedule in ms (default 1000, the seed's). */
  baseMs?: number;
  /** Cap of the schedule in ms (default 5000, the seed's). */
  capMs?: number;
}

/** Options of {@link RetryPolicy}. */
export interface RetryPolicyOptions extends BackoffOptions {
  /** Attempts in all, the first included (default 5, the seed's). 1 disables retries. */
  maxAttempts?: number;
}

/** How an attempt ended; the retry decision depends on it. */
export type AttemptOutcome =
  /** A reply that is not an error. */
  | "ok"
  /** NATS answered that nobody serves the subject: the request was never delivered. */
  | "no-responders"
  /** No reply within the attempt's timeout: the callee may or may not have acted. */
  | "timeout"
  /** An error reply from the callee (the code decides). */
  | "error-reply"
  /** A reply that is not valid JSON (a rogue or broken responder): the callee may have acted. */
  | "bad-reply"
  /** Every live instance is ejected (circuit open): nothing was sent. */
  | "rejected"
  /** The request could not be sent (connection closed, payload too large). */
  | "send-failed";

/**
 * The delay before attempt `attempt + 1`: a linear, capped schedule, min(attempt × baseMs, capMs),
 * with full jitter (uniform in [0, that)).
 */
export function linearJitterDelay(attempt: number, baseMs: number, capMs: number, random: RandomSource): number {
  return random() * Math.min(attempt * baseMs, capMs);
}

/**
 * Whether a failed attempt may be repeated on another instance. Safe without knowing anything
 * about the call: the request was not delivered (no responders) or was refused before any work
 * (OVERLOADED, UNAVAILABLE), or the callee said so (`retryable: true`). Timeouts, garbage replies and
 * BAD_GATEWAY/TIMEOUT error replies (an HTTP service's 5xx, through the bridge) only when the caller
 * marked the call idempotent, since the callee may have acted. INTERNAL (a handler that threw) never.
 */
export function isRetryableOutcome(outcome: AttemptOutcome, code: string | undefined, retryableFlag: boolean, idempotent: boolean): boolean {
  switch (outcome) {
    case "no-responders":
      return true;
    case "error-reply":
      // An HTTP service's failure through the bridge (BAD_GATEWAY, TIMEOUT): it may have acted, so only when idempotent.
      return retryableFlag || (code !== undefined && (isRetryableCode(code) || (idempotent && (code === "BAD_GATEWAY" || code === "TIMEOUT"))));
    case "timeout":
    case "bad-reply":
      return idempotent;
    default:
      return false;
  }
}

/** The retry schedule of a client (or of one call, with per-call overrides). */
export class RetryPolicy {
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly capMs: number;

  constructor(
    opts: RetryPolicyOptions = {},
    private readonly random: RandomSource = Math.random,
  ) {
    const max = opts.maxAttempts ?? 5;
    if (typeof max !== "number" || !Number.isFinite(max) || max < 1) throw new RangeError(`maxAttempts must be a number ≥ 1, got ${String(max)}`);
    this.maxAttempts = Math.floor(max);
    this.baseMs = Math.max(0, opts.baseMs ?? 1000);
    this.capMs = Math.max(0, opts.capMs ?? 5000);
    if (!Number.isFinite(this.baseMs) || !Number.isFinite(this.capMs)) throw new RangeError("backoff baseMs and capMs must be finite");
  }

  /** Delay before the attempt after `attempt` attempts were made (attempt ≥ 1). */
  delay(attempt: number): number {
    return linearJitterDelay(attempt, this.baseMs, this.capMs, this.random);
  }

  /**
   * Decides what follows a failed attempt: the delay before the next one, or null to give up
   * (not retryable, attempts used up, or the delay would reach the deadline).
   * `attempt` counts the attempts made so far, the failed one included.
   */
  next(attempt: number, retryable: boolean, now: number, deadline: number): number | null {
    if (!retryable || attempt >= this.maxAttempts) return null;
    const d = this.delay(attempt);
    // A retry that cannot even start before the deadline only delays the error.
    if (now + d >= deadline) return null;
    return d;
  }
}
