/**
 * `p2c-ewma` (the default): power of two random choices over peak-EWMA load, as Finagle's and
 * Linkerd's balancers do. Two distinct candidates are drawn at random and the one with the lower
 * load wins, where load = peak-EWMA latency × (requests in flight + 1) (InstanceStats.load). Two
 * random choices avoid the herding of "always the best" strategies while still steering almost all
 * traffic away from a slow or busy instance.
 *
 * No starvation: an estimate is only refreshed when its instance is picked, so an instance that was
 * slow once (a cold start, one hiccup) would keep its high cost and never be picked again: with two
 * equal instances and sequential calls, one got 198 of 200 calls. Here the cost of an instance not
 * picked for a while decays towards zero, by half every `halfLife` picks per candidate of the route
 * (counted in picks, not time, so the rate does not depend on how fast calls come). It is then tried
 * again, and its estimate restarts from the decayed value. Equal instances therefore keep swapping
 * the lead, while an instance X times slower than the best is only probed once every
 * `halfLife × candidates × log2(X)` picks (a 50 ms instance beside 1 ms ones: about 1 in 70).
 */
import type { Candidate, PickContext, RandomSource, Strategy } from "./Strategy.js";

/** Options of {@link P2cEwma}. */
export interface P2cEwmaOptions {
  /** Picks per candidate over which an unpicked instance's latency cost halves (default 4). */
  halfLife?: number;
}

/** Power of two choices by peak-EWMA load, with the costs of unpicked instances decaying. */
export class P2cEwma implements Strategy {
  readonly name = "p2c-ewma" as const;
  private readonly halfLife: number;
  private picks = 0;
  /** The pick counter when each instance was last picked. */
  private readonly lastPicked = new WeakMap<Candidate, number>();

  constructor(
    private readonly random: RandomSource = Math.random,
    opts: P2cEwmaOptions = {},
  ) {
    const h = opts.halfLife ?? 4;
    this.halfLife = h > 0 && Number.isFinite(h) ? h : 4;
  }

  pick(candidates: readonly Candidate[], ctx: PickContext): Candidate {
    const n = candidates.length;
    const now = ctx.now;
    let chosen: Candidate;
    let chosenCost = -1;
    if (n === 1) chosen = candidates[0]!;
    else {
      const a = Math.floor(this.random() * n) % n;
      let b = Math.floor(this.random() * (n - 1)) % (n - 1);
      if (b >= a) b++;
      const ca = candidates[a]!;
      const cb = candidates[b]!;
      const costA = this.decayedCost(ca, now, n);
      const costB = this.decayedCost(cb, now, n);
      if (load(cb, costB) < load(ca, costA)) {
        chosen = cb;
        chosenCost = costB;
      } else {
        chosen = ca;
        chosenCost = costA;
      }
    }
    if (chosenCost >= 0) chosen.stats.decayTo(now, chosenCost);
    this.lastPicked.set(chosen, ++this.picks);
    return chosen;
  }

  /** The latency cost of `c`, halved for every `halfLife × n` picks since it was last picked. */
  private decayedCost(c: Candidate, now: number, n: number): number {
    const cost = c.stats.ewma(now);
    const last = this.lastPicked.get(c);
    if (last === undefined || cost === 0) return cost;
    const idle = this.picks - last;
    return idle <= n ? cost : cost * Math.pow(0.5, (idle - n) / (this.halfLife * n));
  }
}

/** Finagle's load with the given cost: cost × (in flight + 1); a busy unsampled instance gets the penalty. */
function load(c: Candidate, cost: number): number {
  const inFlight = c.stats.inFlight;
  if (cost === 0 && inFlight > 0 && !c.stats.hasSamples) return c.stats.load(0);
  return cost * (inFlight + 1);
}
