/**
 * `least-response-time`: the seed's selection of the instance with the lowest observed response
 * time. The average fades while an instance is not used (see InstanceStats.responseTime), so an
 * instance that was slow is tried again later and can win back its share once it has recovered.
 * Ties (e.g. no samples yet) go to the instance with fewer requests in flight, from a random
 * starting point, so a cold start spreads instead of piling onto the first instance.
 */
import type { Candidate, PickContext, RandomSource, Strategy } from "./Strategy.js";

/** Picks the candidate with the lowest decayed average response time. */
export class LeastResponseTime implements Strategy {
  readonly name = "least-response-time" as const;

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(candidates: readonly Candidate[], ctx: PickContext): Candidate {
    const n = candidates.length;
    if (n === 1) return candidates[0]!;
    const start = Math.floor(this.random() * n) % n;
    let best = candidates[start]!;
    let bestRt = best.stats.responseTime(ctx.now);
    for (let k = 1; k < n; k++) {
      const c = candidates[(start + k) % n]!;
      const rt = c.stats.responseTime(ctx.now);
      if (rt < bestRt || (rt === bestRt && c.stats.inFlight < best.stats.inFlight)) {
        best = c;
        bestRt = rt;
      }
    }
    return best;
  }
}
