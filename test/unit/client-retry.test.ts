import { describe, expect, it } from "vitest";
import { RetryBudget } from "../../src/client/RetryBudget.js";
import { RetryPolicy, linearJitterDelay, isRetryableOutcome } from "../../src/client/RetryPolicy.js";
import { seededRandom } from "../helpers/fake-time.js";

describe("RetryPolicy", () => {
  it("defaults to the seed's schedule: 5 attempts, min(attempt × 1000, 5000) ms with full jitter", () => {
    const p = new RetryPolicy({}, () => 0.999999);
    expect(p.maxAttempts).toBe(5);
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => Math.round(p.delay(a)))).toEqual([1000, 2000, 3000, 4000, 5000, 5000, 5000]);
    const zero = new RetryPolicy({}, () => 0);
    expect(zero.delay(3)).toBe(0);
  });

  it("jitters uniformly over [0, cap of the step)", () => {
    const random = seededRandom(11);
    const samples = Array.from({ length: 10_000 }, () => linearJitterDelay(2, 100, 1000, random));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(200);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(95);
    expect(mean).toBeLessThan(105);
  });

  it("refuses nonsense settings", () => {
    expect(() => new RetryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
    expect(() => new RetryPolicy({ maxAttempts: Number.NaN })).toThrow(RangeError);
    expect(() => new RetryPolicy({ baseMs: Number.NaN })).toThrow(RangeError);
    expect(() => new RetryPolicy({ capMs: Infinity })).toThrow(RangeError);
  });

  it("is configurable down to milliseconds", () => {
    const p = new RetryPolicy({ baseMs: 2, capMs: 5, maxAttempts: 3 }, () => 0.5);
    expect([1, 2, 3, 4].map((a) => p.delay(a))).toEqual([1, 2, 2.5, 2.5]);
  });

  it("next(): gives up when not retryable, when attempts are used up, or when the delay would reach the deadline", () => {
    const p = new RetryPolicy({ baseMs: 100, capMs: 1000, maxAttempts: 3 }, () => 0.5);
    expect(p.next(1, false, 0, 10_000)).toBeNull();
    expect(p.next(1, true, 0, 10_000)).toBe(50);
    expect(p.next(2, true, 0, 10_000)).toBe(100);
    expect(p.next(3, true, 0, 10_000)).toBeNull();
    expect(p.next(2, true, 9_900, 10_000)).toBeNull(); // 9 900 + 100 reaches the deadline
    expect(p.next(2, true, 9_899, 10_000)).toBe(100);
  });

  it("retries only what is safe: no responders, OVERLOADED/UNAVAILABLE, retryable replies; timeouts and garbage only when idempotent", () => {
    expect(isRetryableOutcome("no-responders", undefined, false, false)).toBe(true);
    expect(isRetryableOutcome("error-reply", "OVERLOADED", false, false)).toBe(true);
    expect(isRetryableOutcome("error-reply", "UNAVAILABLE", false, false)).toBe(true);
    expect(isRetryableOutcome("error-reply", "INTERNAL", false, true)).toBe(false);
    expect(isRetryableOutcome("error-reply", "BAD_GATEWAY", false, false)).toBe(false);
    expect(isRetryableOutcome("error-reply", "BAD_GATEWAY", false, true)).toBe(true);
    expect(isRetryableOutcome("error-reply", "TIMEOUT", false, false)).toBe(false);
    expect(isRetryableOutcome("error-reply", "TIMEOUT", false, true)).toBe(true);
    expect(isRetryableOutcome("error-reply", "NOT_FOUND", false, true)).toBe(false);
    expect(isRetryableOutcome("error-reply", "OUT_OF_STOCK", true, false)).toBe(true);
    expect(isRetryableOutcome("timeout", undefined, false, false)).toBe(false);
    expect(isRetryableOutcome("timeout", undefined, false, true)).toBe(true);
    expect(isRetryableOutcome("bad-reply", undefined, false, false)).toBe(false);
    expect(isRetryableOutcome("bad-reply", undefined, false, true)).toBe(true);
    expect(isRetryableOutcome("rejected", undefined, false, true)).toBe(false);
    expect(isRetryableOutcome("send-failed", undefined, false, true)).toBe(false);
  });
});

describe("RetryBudget", () => {
  it("allows retries up to the ratio of calls (plus the per-second reserve)", () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 0 });
    let granted = 0;
    for (let i = 0; i < 1000; i++) {
      b.deposit();
      if (b.tryWithdraw(0)) granted++;
      if (b.tryWithdraw(0)) granted++; // a second retry for the same call
    }
    expect(granted).toBe(200);
    expect(b.exhausted).toBe(1800);
  });

  it("lets a quiet client retry at the minimum rate per second", () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 10 });
    let granted = 0;
    for (let i = 0; i < 50; i++) if (b.tryWithdraw(0)) granted++;
    expect(granted).toBe(10);
    expect(b.tryWithdraw(50)).toBe(false); // 50 ms refill half a token
    expect(b.tryWithdraw(100)).toBe(true); // 100 ms = one token
    for (let i = 0; i < 50; i++) if (b.tryWithdraw(10_000)) granted++;
    expect(granted).toBe(20); // the reserve refills to its cap, not beyond
  });

  it("refuses nonsense settings", () => {
    expect(() => new RetryBudget({ ratio: -1 })).toThrow(RangeError);
    expect(() => new RetryBudget({ minPerSecond: Number.NaN })).toThrow(RangeError);
  });

  it("caps the bucket, so a long calm period does not allow an unlimited burst", () => {
    const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, maxTokens: 10 });
    for (let i = 0; i < 10_000; i++) b.deposit();
    expect(b.balance).toBe(10);
    let granted = 0;
    while (b.tryWithdraw(0)) granted++;
    expect(granted).toBe(10);
  });
});
