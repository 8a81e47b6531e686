/** The seed's failure procedure on a fake clock: probe, then min(n × 1 s, 5 s) with equal jitter, within the deadline. */
import { describe, expect, it } from "vitest";
import { SEED_RETRY, runFailureProcedure, seedRetryDelay } from "../../src/gateway/failureRetry.js";

function fakeClock() {
  let t = 1_000_000;
  return { now: () => t, sleep: async (ms: number) => void (t += ms), advance: (ms: number) => void (t += ms) };
}

describe("seed failure procedure", () => {
  it("waits min(n × 1 s, 5 s) before retry n, jittered between half and the whole step", () => {
    const steps = [1000, 2000, 3000, 4000, 5000, 5000];
    steps.forEach((step, i) => {
      expect(seedRetryDelay(i + 1, () => 0)).toBe(step / 2);
      expect(seedRetryDelay(i + 1, () => 0.999999)).toBeCloseTo(step, 0);
    });
    expect(SEED_RETRY.maxAttempts).toBe(5);
  });

  it("answers success after the probe without retrying", async () => {
    const c = fakeClock();
    let calls = 0;
    const out = await runFailureProcedure({ attempt: async () => ++calls, probeTimeoutMs: 5000, deadlineMs: 60_000, now: c.now, sleep: c.sleep, random: () => 0.5 });
    expect(out).toStrictEqual({ status: "success", response: 1, attempts: [{ attempt: 0, ok: true, elapsedMs: 0 }] });
  });

  it("retries 5 times on the seed's schedule when the service keeps failing, then answers failure", async () => {
    const c = fakeClock();
    const started: number[] = [];
    const budgets: number[] = [];
    const out = await runFailureProcedure({
      attempt: async (budget) => {
        started.push(c.now());
        budgets.push(budget);
        c.advance(100);
        throw Object.assign(new Error("no"), { code: "UNAVAILABLE" });
      },
      probeTimeoutMs: 5000,
      deadlineMs: 120_000,
      now: c.now,
      sleep: c.sleep,
      random: () => 0.5,
    });
    expect(out.status).toBe("failure");
    expect(out.attempts.map((a) => a.attempt)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(out.attempts.map((a) => a.delayMs)).toEqual([undefined, 750, 1500, 2250, 3000, 3750]);
    // Each retry starts its delay after the previous attempt ended (100 ms each).
    expect(started.map((t, i) => (i === 0 ? 0 : t - started[i - 1]! - 100))).toEqual([0, 750, 1500, 2250, 3000, 3750]);
    expect(budgets.every((b) => b === 5000)).toBe(true);
    expect(out.attempts.every((a) => a.code === "UNAVAILABLE" && a.ok === false)).toBe(true);
  });

  it("succeeds on the retry that works and stops there", async () => {
    const c = fakeClock();
    let calls = 0;
    const out = await runFailureProcedure({
      attempt: async () => {
        if (++calls < 3) throw new Error("down");
        return { ok: true };
      },
      probeTimeoutMs: 5000,
      deadlineMs: 60_000,
      now: c.now,
      sleep: c.sleep,
      random: () => 0,
    });
    expect(out.status).toBe("success");
    expect(out.response).toStrictEqual({ ok: true });
    expect(out.attempts.map((a) => [a.attempt, a.ok, a.delayMs])).toEqual([
      [0, false, undefined],
      [1, false, 500],
      [2, true, 1000],
    ]);
  });

  it("never starts a retry past the deadline and bounds each attempt by what is left", async () => {
    const c = fakeClock();
    const budgets: number[] = [];
    const out = await runFailureProcedure({
      attempt: async (budget) => {
        budgets.push(budget);
        c.advance(budget);
        throw Object.assign(new Error("slow"), { code: "TIMEOUT" });
      },
      probeTimeoutMs: 1000,
      deadlineMs: 4000,
      now: c.now,
      sleep: c.sleep,
      random: () => 1,
    });
    // probe 0–1000, wait 1000, retry 2000–3000, next wait 2000 would pass 4000: stop.
    expect(out.attempts.map((a) => a.attempt)).toEqual([0, 1]);
    expect(budgets).toEqual([1000, 1000]);
    expect(out.status).toBe("failure");
  });
});
