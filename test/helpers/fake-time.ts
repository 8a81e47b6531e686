/** Deterministic time and randomness for pure-logic tests: a seeded PRNG and a manual clock with timers. */

/** mulberry32: a small, fast, seeded PRNG returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** A clock that moves only when told, with setTimeout/clearTimeout that fire as it moves. */
export class FakeClock {
  private t: number;
  private timers: FakeTimer[] = [];
  private nextId = 1;
  /** Every delay passed to setTimeout, in order. */
  readonly delays: number[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): number => {
    const id = this.nextId++;
    this.delays.push(ms);
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers = this.timers.filter((t) => t.id !== handle);
  };

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order (each at its own time). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }

  /** Fires timers until none is left (or `limitMs` of fake time passes). */
  runAll(limitMs = 3_600_000): void {
    const stop = this.t + limitMs;
    while (this.timers.length > 0 && this.t < stop) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      this.advance(Math.max(0, this.timers[0]!.at - this.t));
    }
  }
}
