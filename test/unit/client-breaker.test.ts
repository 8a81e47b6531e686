import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerStateChange } from "../../src/client/CircuitBreaker.js";

function withEvents(b: CircuitBreaker): BreakerStateChange[] {
  const events: BreakerStateChange[] = [];
  b.onStateChange((e) => events.push(e));
  return events;
}

describe("CircuitBreaker", () => {
  it("opens after the configured consecutive failures; a success in between resets the count", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 3, errorRate: 0, cooldownMs: 1000 });
    const events = withEvents(b);
    b.failure(0);
    b.failure(1);
    b.success(2);
    b.failure(3);
    b.failure(4);
    expect(b.state).toBe("closed");
    b.failure(5);
    expect(b.state).toBe("open");
    expect(events).toEqual([{ from: "closed", to: "open", reason: "consecutive-failures", at: 5 }]);
    expect(b.counters.opened).toBe(1);
  });

  it("rejects while open, goes half-open after the cool-down and lets exactly one probe through", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 1, cooldownMs: 1000 });
    b.failure(0);
    expect(b.admits(10)).toBe(false);
    expect(b.admits(999)).toBe(false);
    expect(b.state).toBe("open");
    expect(b.admits(1000)).toBe(true);
    expect(b.state).toBe("half-open");
    expect(b.admits(1000)).toBe(true); // asking does not claim the probe
    expect(b.dispatched()).toBe(true);
    expect(b.admits(1001)).toBe(false); // the probe is in flight: nobody else
    expect(b.dispatched()).toBe(false);
  });

  it("closes after a good probe and counts it", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 1, cooldownMs: 100 });
    const events = withEvents(b);
    b.failure(0);
    b.admits(100);
    const probe = b.dispatched();
    b.success(120, probe);
    expect(b.state).toBe("closed");
    expect(b.admits(121)).toBe(true);
    expect(events.map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual([
      "closed>open:consecutive-failures",
      "open>half-open:cooldown-elapsed",
      "half-open>closed:probe-succeeded",
    ]);
    expect(b.counters).toEqual({ opened: 1, halfOpened: 1, closed: 1 });
  });

  it("re-opens after a failed probe with a doubled cool-down, capped", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 1, cooldownMs: 100, maxCooldownMs: 300 });
    b.failure(0);
    b.admits(100);
    b.failure(100, b.dispatched());
    expect(b.state).toBe("open");
    expect(b.admits(299)).toBe(false);
    expect(b.admits(300)).toBe(true); // 200 ms later
    b.failure(300, b.dispatched());
    expect(b.admits(599)).toBe(false);
    expect(b.admits(600)).toBe(true); // capped at 300
    b.failure(600, b.dispatched());
    expect(b.admits(900)).toBe(true);
    b.success(900, b.dispatched());
    expect(b.state).toBe("closed");
    // After closing the cool-down is back to its base.
    b.failure(1000);
    expect(b.admits(1100)).toBe(true);
  });

  it("ignores outcomes of requests that are not the probe while open or half-open", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 1, cooldownMs: 100 });
    b.failure(0);
    b.success(10); // a straggler sent before the breaker opened
    expect(b.state).toBe("open");
    b.admits(100);
    b.success(101, false);
    expect(b.state).toBe("half-open");
    b.failure(102, false);
    expect(b.state).toBe("half-open");
  });

  it("opens on the error rate over the window once the minimum number of requests is reached", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 0, errorRate: 0.5, minimumRequests: 10, windowMs: 1000 });
    const events = withEvents(b);
    // Alternate: 50 % errors, never 2 in a row.
    for (let i = 0; i < 8; i++) (i % 2 ? b.failure(i) : b.success(i));
    expect(b.state).toBe("closed"); // 8 requests: below the minimum
    b.success(8);
    b.failure(9);
    expect(b.state).toBe("open");
    expect(events[0]!.reason).toBe("error-rate");
  });

  it("forgets failures that slid out of the window", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 0, errorRate: 0.5, minimumRequests: 4, windowMs: 1000 });
    b.failure(0);
    b.failure(10);
    b.failure(20);
    for (let i = 0; i < 6; i++) b.success(2000 + i);
    expect(b.window(2010)).toEqual({ ok: 6, failed: 0 });
    b.failure(2010);
    expect(b.state).toBe("closed"); // 1 of 7 in the window
  });

  it("frees the probe slot on release (outcome says nothing about the instance)", () => {
    const b = new CircuitBreaker({ consecutiveFailures: 1, cooldownMs: 10 });
    b.failure(0);
    b.admits(10);
    const probe = b.dispatched();
    expect(b.admits(11)).toBe(false);
    b.release(probe);
    expect(b.admits(11)).toBe(true);
  });
});
