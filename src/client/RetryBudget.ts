/**
 * A retry budget (Finagle, gRPC retry throttling): retries may add at most a share of the calls
 * (default 20 %), so when everything fails, the extra load stays bounded instead of multiplying
 * every call by maxAttempts. A token bucket: each call deposits `ratio` tokens, each retry takes one
 * whole token. A small reserve refilled at `minPerSecond` lets a quiet client retry at all.
 * Pure: every method takes the current time.
 */

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per call, on average (default 0.2: at most 20 % extra attempts). */
  ratio?: number;
  /** Retries always allowed per second on top of the ratio (default 10), for low-traffic clients. */
  minPerSecond?: number;
  /** Most tokens the bucket holds (default 500): the largest burst of retries after a calm period. */
  maxTokens?: number;
}

/** Shared by all calls of one client. */
export class RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly maxTokens: number;
  private tokens = 0;
  private reserve: number;
  private reserveStamp: number | undefined;
  /** Retries refused because the budget was spent. */
  exhausted = 0;
  /** Retries granted. */
  granted = 0;

  constructor(opts: RetryBudgetOptions = {}) {
    for (const [k, v] of Object.entries(opts)) {
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) throw new RangeError(`retryBudget.${k} must be a number ≥ 0`);
    }
    this.ratio = Math.max(0, opts.ratio ?? 0.2);
    this.minPerSecond = Math.max(0, opts.minPerSecond ?? 10);
    this.maxTokens = Math.max(1, opts.maxTokens ?? 500);
    this.reserve = this.minPerSecond;
  }

  /** A call started: deposit its share. */
  deposit(): void {
    const t = this.tokens + this.ratio;
    this.tokens = t > this.maxTokens ? this.maxTokens : t;
  }

  /** Asks for one retry; true (and the token is spent) when the budget allows it. */
  tryWithdraw(now: number): boolean {
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.granted++;
      return true;
    }
    if (this.minPerSecond > 0) {
      if (this.reserveStamp !== undefined) {
        this.reserve = Math.min(this.minPerSecond, this.reserve + ((now - this.reserveStamp) / 1000) * this.minPerSecond);
      }
      this.reserveStamp = now;
      if (this.reserve >= 1) {
        this.reserve -= 1;
        this.granted++;
        return true;
      }
    }
    this.exhausted++;
    return false;
  }

  /** Tokens available now (ratio bucket only). */
  get balance(): number {
    return this.tokens;
  }
}
