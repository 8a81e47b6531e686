/**
 * `consistent-hash`: the same call key goes to the same instance, and a change of membership moves
 * only the keys of the instance that came or went (about 1/N of them). A hash ring with virtual
 * nodes: each instance owns `virtualNodes` points; a key belongs to the first point clockwise from
 * its hash. The ring is built over every live instance; an ejected or just-tried instance is
 * skipped by walking on to the next point, so ejecting one instance moves only its own keys.
 */
import { murmur3 } from "./hash.js";
import type { Candidate, PickContext, RandomSource, Strategy } from "./Strategy.js";

/** Options of {@link ConsistentHash}. */
export interface ConsistentHashOptions {
  /** Points per instance on the ring (default 160, as ketama): more points, more even shares. */
  virtualNodes?: number;
  /** Used for calls without a key, which go to a random instance. */
  random?: RandomSource;
}

/** Hash-ring strategy keyed by the call's `key` option. */
export class ConsistentHash implements Strategy {
  readonly name = "consistent-hash" as const;
  private readonly virtualNodes: number;
  private readonly random: RandomSource;
  private ringOf: readonly Candidate[] | undefined;
  private points = new Uint32Array(0);
  private owners: Candidate[] = [];

  constructor(opts: ConsistentHashOptions = {}) {
    this.virtualNodes = Math.max(1, Math.floor(opts.virtualNodes ?? 160));
    this.random = opts.random ?? Math.random;
  }

  pick(candidates: readonly Candidate[], ctx: PickContext): Candidate {
    if (ctx.key === undefined) return candidates[Math.floor(this.random() * candidates.length)] ?? candidates[0]!;
    if (this.ringOf !== ctx.all) this.build(ctx.all);
    const n = this.points.length;
    if (n === 0) return candidates[0]!;
    let i = lowerBound(this.points, murmur3(ctx.key));
    const all = candidates === ctx.all;
    for (let step = 0; step < n; step++, i++) {
      if (i === n) i = 0;
      const owner = this.owners[i]!;
      if (all || candidates.includes(owner)) return owner;
    }
    // Candidates outside the ring (cannot happen when they are a subset of ctx.all).
    return candidates[0]!;
  }

  /** The instance a key maps to among `all` (no exclusions); for tests and diagnostics. */
  ownerOf(key: string, all: readonly Candidate[]): Candidate | undefined {
    if (this.ringOf !== all) this.build(all);
    if (this.points.length === 0) return undefined;
    const i = lowerBound(this.points, murmur3(key));
    return this.owners[i === this.points.length ? 0 : i];
  }

  private build(all: readonly Candidate[]): void {
    const entries: Array<{ point: number; owner: Candidate }> = [];
    for (const c of all) {
      for (let v = 0; v < this.virtualNodes; v++) entries.push({ point: murmur3(`${c.id}#${v}`), owner: c });
    }
    // Ties (rare) are broken by id so that every client builds the same ring.
    entries.sort((a, b) => a.point - b.point || (a.owner.id < b.owner.id ? -1 : a.owner.id > b.owner.id ? 1 : 0));
    this.points = Uint32Array.from(entries, (e) => e.point);
    this.owners = entries.map((e) => e.owner);
    this.ringOf = all;
  }
}

/** Index of the first element ≥ value (points.length when none). */
function lowerBound(points: Uint32Array, value: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
