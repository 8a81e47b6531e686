/** The fleet benchmark's growth fit, checked against curves whose exponent is known by construction. */
import { describe, expect, it } from "vitest";
import { describeGrowth, fitPowerLaw } from "../../bench/fleet/growth.js";

const sizes = [10, 100, 500, 2000];

describe("fitPowerLaw", () => {
  it("recovers the exponent and factor of exact power laws", () => {
    for (const [a, k] of [[3, 1], [0.02, 2], [50, 0.5], [7, 0]] as const) {
      const fit = fitPowerLaw(sizes.map((n) => ({ n, y: a * n ** k })))!;
      expect(fit.exponent).toBeCloseTo(k, 9);
      expect(fit.factor).toBeCloseTo(a, 6);
      expect(fit.points).toBe(4);
    }
  });

  it("fits linear traffic plus a small constant as just under 1, and n² + n traffic as nearly 2", () => {
    // Bus traffic of a heartbeat-to-coordinator design: 2 messages per instance per second plus a fixed 4.
    const lin = fitPowerLaw(sizes.map((n) => ({ n, y: 2 * n + 4 })))!.exponent;
    expect(lin).toBeGreaterThan(0.9);
    expect(lin).toBeLessThan(1);
    // Every node receives every node's heartbeat: n² deliveries plus n publications.
    const quad = fitPowerLaw(sizes.map((n) => ({ n, y: n * n + n })))!.exponent;
    expect(quad).toBeGreaterThan(1.9);
    expect(quad).toBeLessThanOrEqual(2);
  });

  it("skips unusable points and refuses what cannot be fitted", () => {
    expect(fitPowerLaw([{ n: 10, y: 5 }])).toBeUndefined();
    expect(fitPowerLaw([{ n: 10, y: 5 }, { n: 10, y: 9 }])).toBeUndefined();
    expect(fitPowerLaw([{ n: 10, y: 0 }, { n: 0, y: 3 }, { n: 100, y: NaN }])).toBeUndefined();
    expect(fitPowerLaw([{ n: 10, y: 10 }, { n: 100, y: 100 }, { n: 1000, y: 0 }])!.points).toBe(2);
  });

  it("names exponents to the nearest half", () => {
    expect([0.1, 0.97, 1.2, 1.6, 2.1, 3.2].map(describeGrowth)).toEqual(["flat", "linear", "linear", "n^1.5", "quadratic", "n^3"]);
  });
});
