/**
 * Rate limits for targeted syncs ("please re-announce" to one unknown instance): at most one per
 * instance per interval, at most a fixed number per second overall, and none right after a broadcast
 * sync (every agent re-announces then anyway). A flood of made-up heartbeats must not become a sync
 * flood. Pure: the caller passes the clock.
 */

/** Targeted syncs per second, at most, by default. */
export const MAX_TARGETED_SYNCS_PER_SECOND = 200;

/** Decides whether a targeted sync may be sent now. */
export class SyncLimiter {
  private quietUntil = 0;
  private readonly asked = new Map<string, number>();
  private second = 0;
  private used = 0;

  constructor(
    /** An instance is asked at most this often, in ms (also the quiet time after a broadcast). */
    private readonly intervalMs: number,
    private readonly maxPerSecond = MAX_TARGETED_SYNCS_PER_SECOND,
  ) {}

  /** A broadcast sync was sent at `now`: targeted ones are pointless for one interval. */
  broadcastSent(now: number): void {
    this.quietUntil = now + this.intervalMs;
  }

  /** True (and counted) when instance `service`/`id` may be asked to re-announce at `now`. */
  tryAsk(service: string, id: string, now: number): boolean {
    if (now < this.quietUntil) return false;
    const key = `${service}.${id}`;
    const last = this.asked.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    const second = Math.floor(now / 1000);
    if (this.second !== second) {
      this.second = second;
      this.used = 0;
    }
    if (this.used >= this.maxPerSecond) return false;
    this.used++;
    this.asked.set(key, now);
    return true;
  }

  /** Forgets instances asked more than an interval ago (memory stays bounded by the per-second budget). */
  prune(now: number): void {
    if (this.asked.size === 0) return;
    for (const [k, t] of this.asked) if (now - t >= this.intervalMs) this.asked.delete(k);
  }
}
