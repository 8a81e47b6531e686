/**
 * `p2c-ewma` (the default): power of two random choices over peak-EWMA load, as Finagle's and
 * Linkerd's balancers do. Two distinct candidates are drawn at random and the one with the lower
 * load wins, where load = peak-EWMA latency × (requests in flight + 1) (InstanceStats.load). Two
 * random choices avoid the herding of "always the best" strategies while still steering almost all
 * traffic away from a slow or busy instance; the decay of the EWMA lets a recovered instance back in.
 */
import type { Candidate, PickContext, RandomSource, Strategy } from "./Strategy.js";

/** Power of two choices by peak-EWMA load. */
export class P2cEwma implements Strategy {
  readonly name = "p2c-ewma" as const;

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(candidates: readonly Candidate[], ctx: PickContext): Candidate {
    const n = candidates.length;
    if (n === 1) return candidates[0]!;
    const a = Math.floor(this.random() * n) % n;
    let b = Math.floor(this.random() * (n - 1)) % (n - 1);
    if (b >= a) b++;
    const ca = candidates[a]!;
    const cb = candidates[b]!;
    return cb.stats.load(ctx.now) < ca.stats.load(ctx.now) ? cb : ca;
  }
}
