import { describe, expect, it } from "vitest";
import { SyncLimiter } from "../../src/coordinator/SyncLimiter.js";

const T0 = 1_700_000_000_000;

describe("SyncLimiter (targeted re-announce requests)", () => {
  it("asks one instance at most once per interval", () => {
    const l = new SyncLimiter(1000);
    expect(l.tryAsk("orders", "a", T0)).toBe(true);
    expect(l.tryAsk("orders", "a", T0 + 999)).toBe(false);
    expect(l.tryAsk("orders", "b", T0 + 999)).toBe(true);
    expect(l.tryAsk("orders", "a", T0 + 1000)).toBe(true);
  });

  it("asks nobody for one interval after a broadcast sync", () => {
    const l = new SyncLimiter(1000);
    l.broadcastSent(T0);
    expect(l.tryAsk("orders", "a", T0 + 999)).toBe(false);
    expect(l.tryAsk("orders", "a", T0 + 1000)).toBe(true);
  });

  it("sends at most maxPerSecond per clock second, whatever the number of unknown instances", () => {
    const l = new SyncLimiter(1000, 3);
    const asked = Array.from({ length: 10 }, (_, i) => l.tryAsk("orders", `i${i}`, T0 + i)).filter(Boolean).length;
    expect(asked).toBe(3);
    expect(l.tryAsk("orders", "i9", T0 + 1000)).toBe(true);
  });

  it("prune forgets instances asked an interval ago, so they can be asked again", () => {
    const l = new SyncLimiter(1000);
    l.tryAsk("orders", "a", T0);
    l.prune(T0 + 1000);
    expect(l.tryAsk("orders", "a", T0 + 1000)).toBe(true);
  });
});
