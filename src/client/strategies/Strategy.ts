/**
 * The interface every balancing strategy implements. A strategy only chooses: the router has
 * already removed ejected instances (open circuit breakers) and, on a retry, the instances the call
 * has just tried, so every strategy honours ejection and retry spreading without knowing about them.
 */
import type { InstanceStats } from "../InstanceStats.js";

/** Names of the built-in strategies. */
export type StrategyName = "round-robin" | "random" | "weighted" | "consistent-hash" | "least-response-time" | "p2c-ewma";

/** An instance as strategies see it. The router keeps one stable object per instance. */
export interface Candidate {
  /** Instance id. */
  readonly id: string;
  /** Relative weight (instance record `weight`, default 1). */
  readonly weight: number;
  /** What the client observed about this instance. */
  readonly stats: InstanceStats;
}

/** Per-pick context. The router reuses one object, so strategies must not keep it. */
export interface PickContext {
  /** Current time in ms (same clock as the stats). */
  now: number;
  /** Call key for `consistent-hash`; undefined when the call has none. */
  key: string | undefined;
  /**
   * Every live instance of the route, ejected or not, in a stable order; the same array object as
   * long as membership does not change (`consistent-hash` builds its ring from it, so ejecting an
   * instance moves only that instance's keys).
   */
  all: readonly Candidate[];
}

/** A balancing strategy: one object per route (service + endpoint), holding that route's state. */
export interface Strategy {
  readonly name: StrategyName;
  /** Chooses one of `candidates` (never empty, a subset of `ctx.all`). */
  pick(candidates: readonly Candidate[], ctx: PickContext): Candidate;
}

/** A source of uniformly distributed numbers in [0, 1); injectable for deterministic tests. */
export type RandomSource = () => number;
