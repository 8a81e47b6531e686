/**
 * A circuit breaker for one instance: closed → open on consecutive failures or on an error rate over
 * a sliding window; open → half-open after a cool-down; in half-open exactly one probe request goes
 * through, and its outcome closes the circuit or opens it again (with a longer cool-down, up to a
 * cap, so a persistently broken instance is probed less and less often). An open breaker is how the
 * client ejects an outlier: the router skips instances whose breaker does not admit a request.
 * Pure: every method takes the current time.
 */
import { EventEmitter, type Event } from "../protocol/Event.js";

/** The states of a breaker. */
export type BreakerState = "closed" | "open" | "half-open";

/** Options of {@link CircuitBreaker}; all optional. */
export interface BreakerOptions {
  /** Open after this many failures in a row (default 5). 0 disables this trigger. */
  consecutiveFailures?: number;
  /** Open when the failure share over the window reaches this (0..1, default 0.5). 0 disables this trigger. */
  errorRate?: number;
  /** Sliding window for the error rate, in ms (default 10 000). */
  windowMs?: number;
  /** Fewest requests in the window before the error rate counts (default 20). */
  minimumRequests?: number;
  /** Time an opened breaker waits before its half-open probe, in ms (default 5 000). */
  cooldownMs?: number;
  /** Cap of the cool-down, which doubles each time a probe fails (default 60 000). */
  maxCooldownMs?: number;
}

/** A state change, as fired by {@link CircuitBreaker.onStateChange}. */
export interface BreakerStateChange {
  from: BreakerState;
  to: BreakerState;
  /** Why: `consecutive-failures`, `error-rate`, `cooldown-elapsed`, `probe-succeeded`, `probe-failed`. */
  reason: string;
  /** When (the breaker's clock). */
  at: number;
}

/** Counters of one breaker. */
export interface BreakerCounters {
  /** Times it opened (including re-opening after a failed probe). */
  opened: number;
  /** Times it went half-open. */
  halfOpened: number;
  /** Times it closed after a good probe. */
  closed: number;
}

const BUCKETS = 10;

/** The breaker of one instance. */
export class CircuitBreaker {
  private _state: BreakerState = "closed";
  private openedAt = 0;
  private cooldown: number;
  private probeInFlight = false;
  private consecutive = 0;
  private readonly bucketMs: number;
  private readonly bucketIds = new Float64Array(BUCKETS).fill(-1);
  private readonly okCounts = new Uint32Array(BUCKETS);
  private readonly failCounts = new Uint32Array(BUCKETS);
  private readonly consecutiveLimit: number;
  private readonly errorRate: number;
  private readonly minimumRequests: number;
  private readonly baseCooldown: number;
  private readonly maxCooldown: number;
  private readonly changes = new EventEmitter<BreakerStateChange>();
  /** Counters of state changes. */
  readonly counters: BreakerCounters = { opened: 0, halfOpened: 0, closed: 0 };
  /** Fires on every state change. */
  readonly onStateChange: Event<BreakerStateChange> = this.changes.event;

  constructor(opts: BreakerOptions = {}) {
    this.consecutiveLimit = opts.consecutiveFailures ?? 5;
    this.errorRate = opts.errorRate ?? 0.5;
    this.bucketMs = Math.max(1, (opts.windowMs ?? 10_000) / BUCKETS);
    this.minimumRequests = Math.max(1, opts.minimumRequests ?? 20);
    this.baseCooldown = Math.max(0, opts.cooldownMs ?? 5_000);
    this.maxCooldown = Math.max(this.baseCooldown, opts.maxCooldownMs ?? 60_000);
    this.cooldown = this.baseCooldown;
  }

  /** The current state (an open breaker whose cool-down has elapsed turns half-open on the next {@link admits}). */
  get state(): BreakerState {
    return this._state;
  }

  /**
   * Whether a request may go to this instance now. Closed: yes. Open: no until the cool-down has
   * elapsed, then the breaker turns half-open. Half-open: yes while no probe is in flight.
   * Asking does not claim the probe; {@link dispatched} does.
   */
  admits(now: number): boolean {
    if (this._state === "closed") return true;
    if (this._state === "open") {
      if (now - this.openedAt < this.cooldown) return false;
      this.transition("half-open", "cooldown-elapsed", now);
    }
    return !this.probeInFlight;
  }

  /**
   * The earliest time {@link admits} may say yes: now when closed or when a half-open probe slot is
   * free, the end of the cool-down when open, and `now + probeWaitMs` while a probe is in flight (its
   * outcome decides, so look again shortly).
   */
  admitsAt(now: number, probeWaitMs = 10): number {
    if (this._state === "closed") return now;
    if (this._state === "open") return Math.max(now, this.openedAt + this.cooldown);
    return this.probeInFlight ? now + probeWaitMs : now;
  }

  /**
   * A request was sent to this instance; returns true when it is the half-open probe. Pass that
   * flag back to {@link success} / {@link failure}: only the probe's outcome moves a half-open
   * breaker, replies to requests sent before it opened are ignored.
   */
  dispatched(): boolean {
    if (this._state !== "half-open" || this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  /** A request ended without telling anything about the instance (e.g. the client closed): frees the probe slot. */
  release(probe: boolean): void {
    if (probe && this._state === "half-open") this.probeInFlight = false;
  }

  /** A request to this instance succeeded. */
  success(now: number, probe = false): void {
    if (this._state === "closed") {
      this.consecutive = 0;
      this.record(now, true);
      return;
    }
    if (probe && this._state === "half-open") {
      this.probeInFlight = false;
      this.reset();
      this.cooldown = this.baseCooldown;
      this.transition("closed", "probe-succeeded", now);
    }
  }

  /** A request to this instance failed (no responders, timeout, overload, internal error, garbage reply). */
  failure(now: number, probe = false): void {
    if (this._state === "closed") {
      this.consecutive++;
      this.record(now, false);
      if (this.consecutiveLimit > 0 && this.consecutive >= this.consecutiveLimit) {
        this.open(now, "consecutive-failures");
      } else if (this.errorRate > 0 && this.rateExceeded(now)) {
        this.open(now, "error-rate");
      }
      return;
    }
    if (probe && this._state === "half-open") {
      this.probeInFlight = false;
      this.cooldown = Math.min(this.maxCooldown, this.cooldown * 2);
      this.openedAt = now;
      this.transition("open", "probe-failed", now);
    }
  }

  /**
   * Closes the breaker and forgets its failures: they said nothing about the instance (the client
   * itself was cut off from NATS, so every attempt failed whatever the instance's health).
   */
  forgive(now: number, reason = "forgiven"): void {
    this.probeInFlight = false;
    this.reset();
    this.cooldown = this.baseCooldown;
    if (this._state !== "closed") this.transition("closed", reason, now);
  }

  /** Failures in a row while closed. */
  get consecutiveFailures(): number {
    return this.consecutive;
  }

  /** Successes and failures in the sliding window at `now`. */
  window(now: number): { ok: number; failed: number } {
    const current = Math.floor(now / this.bucketMs);
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const id = this.bucketIds[i]!;
      if (id > current - BUCKETS && id <= current) {
        ok += this.okCounts[i]!;
        failed += this.failCounts[i]!;
      }
    }
    return { ok, failed };
  }

  private rateExceeded(now: number): boolean {
    const { ok, failed } = this.window(now);
    const total = ok + failed;
    return total >= this.minimumRequests && failed / total >= this.errorRate;
  }

  private record(now: number, ok: boolean): void {
    const id = Math.floor(now / this.bucketMs);
    const slot = id % BUCKETS;
    if (this.bucketIds[slot] !== id) {
      this.bucketIds[slot] = id;
      this.okCounts[slot] = 0;
      this.failCounts[slot] = 0;
    }
    if (ok) this.okCounts[slot] = this.okCounts[slot]! + 1;
    else this.failCounts[slot] = this.failCounts[slot]! + 1;
  }

  private open(now: number, reason: string): void {
    this.openedAt = now;
    this.reset();
    this.transition("open", reason, now);
  }

  private reset(): void {
    this.consecutive = 0;
    this.bucketIds.fill(-1);
  }

  private transition(to: BreakerState, reason: string, at: number): void {
    const from = this._state;
    this._state = to;
    if (to === "open") this.counters.opened++;
    else if (to === "half-open") this.counters.halfOpened++;
    else this.counters.closed++;
    if (this.changes.hasListeners) this.changes.fire({ from, to, reason, at });
  }
}
