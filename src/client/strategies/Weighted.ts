/**
 * `weighted`: smooth weighted round-robin (the nginx algorithm). Over any window of W picks, where W
 * is the sum of the weights, each instance is picked exactly its weight times, and the picks of a
 * heavy instance are spread out rather than bunched.
 */
import type { Candidate, Strategy } from "./Strategy.js";

/** Weighted round-robin by the instances' `weight` (weights ≤ 0 are never picked while others have weight). */
export class Weighted implements Strategy {
  readonly name = "weighted" as const;
  private readonly current = new Map<string, number>();
  private fallback = 0;

  pick(candidates: readonly Candidate[]): Candidate {
    let total = 0;
    let best: Candidate | undefined;
    let bestCurrent = -Infinity;
    for (const c of candidates) {
      const w = c.weight > 0 && Number.isFinite(c.weight) ? c.weight : 0;
      if (w === 0) continue;
      const cur = (this.current.get(c.id) ?? 0) + w;
      this.current.set(c.id, cur);
      total += w;
      if (cur > bestCurrent) {
        bestCurrent = cur;
        best = c;
      }
    }
    if (!best) {
      // Every weight is zero: better to balance evenly than to refuse the call.
      const c = candidates[this.fallback % candidates.length]!;
      this.fallback = (this.fallback + 1) & 0x3fffffff;
      return c;
    }
    this.current.set(best.id, bestCurrent - total);
    // Forget instances that left, so a long-lived client does not accumulate state.
    if (this.current.size > candidates.length * 4 + 16) this.prune(candidates);
    return best;
  }

  private prune(candidates: readonly Candidate[]): void {
    const live = new Set(candidates.map((c) => c.id));
    for (const id of this.current.keys()) if (!live.has(id)) this.current.delete(id);
  }
}
