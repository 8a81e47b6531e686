/**
 * What a client has observed about one instance (for one endpoint): requests in flight, a peak-EWMA
 * latency cost (Finagle / Linkerd) and a decaying average response time (the seed's
 * least-response-time selection). Pure: every method takes the current time.
 */

/** Options of {@link InstanceStats}. */
export interface InstanceStatsOptions {
  /** Time constant of the peak-EWMA decay in ms (Finagle and Linkerd use 10 s). */
  ewmaDecayMs?: number;
  /** Time constant over which an unobserved response time fades to zero, so a recovered instance is tried again. */
  responseTimeDecayMs?: number;
  /** Weight of a new sample in the response-time average (0..1]. */
  responseTimeAlpha?: number;
}

/**
 * Cost given to an instance that has requests in flight but no latency sample yet (Finagle's
 * penalty): without it, every concurrent call would pile onto a new instance before its first reply.
 */
export const UNSAMPLED_PENALTY = 1e9;

/** Load statistics of one instance; mutated by the call path, read by the strategies. */
export class InstanceStats {
  /** Requests sent and not yet answered (or timed out). */
  inFlight = 0;
  private cost = 0;
  private costStamp = 0;
  private rt = 0;
  private rtStamp = 0;
  private sampled = false;
  private readonly tau: number;
  private readonly rtDecay: number;
  private readonly alpha: number;

  constructor(opts: InstanceStatsOptions = {}) {
    this.tau = opts.ewmaDecayMs ?? 10_000;
    this.rtDecay = opts.responseTimeDecayMs ?? 10_000;
    this.alpha = opts.responseTimeAlpha ?? 0.3;
  }

  /** A request was sent to this instance. */
  started(): void {
    this.inFlight++;
  }

  /**
   * A request ended after `latencyMs` (for a failure, pass the penalty latency the caller chose:
   * a fast failure must not make a broken instance look attractive).
   */
  finished(now: number, latencyMs: number): void {
    if (this.inFlight > 0) this.inFlight--;
    this.observe(now, latencyMs);
  }

  /** Records a latency sample without touching the in-flight count. */
  observe(now: number, latencyMs: number): void {
    const rtt = latencyMs > 0 ? latencyMs : 0;
    // Peak EWMA: a slower sample is taken at once, a faster one is blended in with a weight that
    // grows with the time since the last sample, so the cost reacts to trouble immediately and
    // recovers smoothly.
    if (!this.sampled || rtt > this.cost) {
      this.cost = rtt;
    } else {
      const w = Math.exp(-(now - this.costStamp) / this.tau);
      this.cost = this.cost * w + rtt * (1 - w);
    }
    this.costStamp = now;
    this.rt = this.sampled ? this.rt + this.alpha * (rtt - this.rt) : rtt;
    this.rtStamp = now;
    this.sampled = true;
  }

  /** True once at least one latency sample was recorded. */
  get hasSamples(): boolean {
    return this.sampled;
  }

  /** The peak-EWMA latency cost at `now`, decayed towards zero since the last sample (ms). */
  ewma(now: number): number {
    if (!this.sampled) return 0;
    const td = now - this.costStamp;
    return td > 0 ? this.cost * Math.exp(-td / this.tau) : this.cost;
  }

  /**
   * Lowers the latency cost to `cost` when that is below the current (time-decayed) one: the
   * balancer decided the old estimate is stale (see P2cEwma), so the next sample blends in from
   * there instead of from a peak seen long ago.
   */
  decayTo(now: number, cost: number): void {
    if (!this.sampled || !(cost >= 0) || cost >= this.ewma(now)) return;
    this.cost = cost;
    this.costStamp = now;
  }

  /** Finagle's load: peak-EWMA cost × (in-flight + 1), with a penalty for a busy unsampled instance. */
  load(now: number): number {
    const cost = this.ewma(now);
    if (cost === 0 && this.inFlight > 0) return UNSAMPLED_PENALTY + this.inFlight;
    return cost * (this.inFlight + 1);
  }

  /**
   * The average response time at `now` (ms), fading towards zero while the instance is not used,
   * so that an instance that was slow once is eventually tried again. Zero before any sample.
   */
  responseTime(now: number): number {
    if (!this.sampled) return 0;
    const td = now - this.rtStamp;
    return td > 0 ? this.rt * Math.exp(-td / this.rtDecay) : this.rt;
  }
}
