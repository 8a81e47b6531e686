/** `random`: a uniformly random instance. */
import type { Candidate, RandomSource, Strategy } from "./Strategy.js";

/** Picks uniformly at random. */
export class RandomChoice implements Strategy {
  readonly name = "random" as const;

  constructor(private readonly random: RandomSource = Math.random) {}

  pick(candidates: readonly Candidate[]): Candidate {
    return candidates[Math.floor(this.random() * candidates.length)] ?? candidates[0]!;
  }
}
