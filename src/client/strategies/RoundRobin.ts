/** `round-robin`: each instance in turn. */
import type { Candidate, Strategy } from "./Strategy.js";

/** Cycles through the candidates in order. */
export class RoundRobin implements Strategy {
  readonly name = "round-robin" as const;
  private next = 0;

  pick(candidates: readonly Candidate[]): Candidate {
    const i = this.next % candidates.length;
    // Wrap well before precision runs out; the modulo keeps the order intact.
    this.next = this.next >= 0x3fffffff ? 0 : this.next + 1;
    return candidates[i]!;
  }
}
