/** Balancing strategies, each behind the {@link Strategy} interface. */
import { ConsistentHash } from "./ConsistentHash.js";
import { LeastResponseTime } from "./LeastResponseTime.js";
import { P2cEwma } from "./P2cEwma.js";
import { RandomChoice } from "./RandomChoice.js";
import { RoundRobin } from "./RoundRobin.js";
import type { RandomSource, Strategy, StrategyName } from "./Strategy.js";
import { Weighted } from "./Weighted.js";

export type { Candidate, PickContext, RandomSource, Strategy, StrategyName } from "./Strategy.js";
export { RoundRobin } from "./RoundRobin.js";
export { RandomChoice } from "./RandomChoice.js";
export { Weighted } from "./Weighted.js";
export { ConsistentHash, type ConsistentHashOptions } from "./ConsistentHash.js";
export { LeastResponseTime } from "./LeastResponseTime.js";
export { P2cEwma } from "./P2cEwma.js";
export { murmur3 } from "./hash.js";

/** Every built-in strategy name. */
export const STRATEGY_NAMES: readonly StrategyName[] = [
  "p2c-ewma",
  "round-robin",
  "random",
  "weighted",
  "consistent-hash",
  "least-response-time",
];

/** True when `name` is a built-in strategy. */
export function isStrategyName(name: unknown): name is StrategyName {
  return typeof name === "string" && (STRATEGY_NAMES as readonly string[]).includes(name);
}

/** Options for {@link createStrategy}. */
export interface StrategyFactoryOptions {
  random?: RandomSource;
  /** Ring points per instance for `consistent-hash`. */
  virtualNodes?: number;
}

/** Creates a new strategy object (with its own state) by name. */
export function createStrategy(name: StrategyName, opts: StrategyFactoryOptions = {}): Strategy {
  const random = opts.random ?? Math.random;
  switch (name) {
    case "round-robin":
      return new RoundRobin();
    case "random":
      return new RandomChoice(random);
    case "weighted":
      return new Weighted();
    case "consistent-hash":
      return new ConsistentHash({ random, virtualNodes: opts.virtualNodes });
    case "least-response-time":
      return new LeastResponseTime(random);
    case "p2c-ewma":
      return new P2cEwma(random);
    default:
      throw new TypeError(`unknown balancing strategy ${JSON.stringify(name)}; use one of ${STRATEGY_NAMES.join(", ")}`);
  }
}
