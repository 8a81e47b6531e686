/**
 * Instance liveness as the registry reports it, kept as a short timeline per instance so that the
 * `instance_down` series can be read at any evaluation time (the events carry the coordinator's
 * time, so every collector reading the same events agrees). Pure, no I/O.
 */
import type { InstanceView, RegistryEvent } from "../protocol/index.js";
import type { SeriesValue } from "./types.js";

type State = InstanceView["state"];

interface Timeline {
  service: string;
  /** Ordered by `at`; `original` is the event's own time when it arrived late and was moved (see `apply`). */
  changes: Array<{ at: number; state: State; original?: number }>;
}

/** See the module comment. */
export class InstanceDownTracker {
  private readonly instances = new Map<string, Timeline>();
  /** Last evaluation step already taken; a change dated at or before it arrived too late to be seen. */
  private horizon = -Infinity;

  /**
   * @param stepMs the collector's evaluation step: a late change is moved to the next step after the
   *   horizon, and each further late change of the same instance one step later still.
   */
  constructor(private readonly stepMs = 500) {}

  /** Tells the tracker that evaluation has taken every step up to `t`. */
  evaluatedUpTo(t: number): void {
    if (t > this.horizon) this.horizon = t;
  }

  /**
   * Applies a registry event (or an instance from a registry snapshot, with its `since`).
   *
   * A change dated before the last evaluated step (a new leading coordinator replaying the steps of a
   * fall that happened while nobody led, say) would otherwise sit entirely in the evaluated past, and a
   * `down` followed by `removed` would never raise its alert. Such a change takes effect at the next
   * step instead, in order: every collector takes its steps at the same clock-aligned times and reads
   * the same events, so they still agree on when the alert starts (unless the events arrive right at a
   * step boundary, where two collectors may differ by one step).
   */
  apply(ev: Pick<RegistryEvent, "type" | "at" | "instance">): void {
    const { id, service } = ev.instance.instance;
    let tl = this.instances.get(id);
    if (!tl) {
      tl = { service, changes: [] };
      this.instances.set(id, tl);
    }
    let at = ev.at;
    const last = tl.changes[tl.changes.length - 1];
    if (last && last.at === at && last.state === ev.type) return; // the same event twice (two coordinators)
    if (at <= this.horizon) {
      if (tl.changes.some((c) => c.state === ev.type && c.original === ev.at)) return; // a late duplicate
      at = Math.max(this.horizon + this.stepMs, (last?.at ?? -Infinity) + this.stepMs);
    }
    let i = tl.changes.length;
    while (i > 0 && tl.changes[i - 1]!.at > at) i--;
    const prev = tl.changes[i - 1];
    if (prev && prev.at === at && prev.state === ev.type) return; // the same event twice (two coordinators)
    tl.changes.splice(i, 0, at === ev.at ? { at, state: ev.type } : { at, state: ev.type, original: ev.at });
    // A handful of changes is all any evaluation window needs.
    if (tl.changes.length > 16) tl.changes.splice(0, tl.changes.length - 16);
  }

  /** State of an instance at `t`, or undefined before its first known change. */
  stateAt(id: string, t: number): State | undefined {
    const tl = this.instances.get(id);
    if (!tl) return undefined;
    let state: State | undefined;
    for (const c of tl.changes) {
      if (c.at > t) break;
      state = c.state;
    }
    return state;
  }

  /**
   * `instance_down` series at `t`: 1 for an instance the registry reports down, 0 for one up or
   * suspect (so a recovered instance resolves its alert with a value); removed instances have no series.
   */
  seriesAt(t: number, service: string): SeriesValue[] {
    const out: SeriesValue[] = [];
    for (const [id, tl] of this.instances) {
      if (service !== "*" && tl.service !== service) continue;
      const state = this.stateAt(id, t);
      if (state === undefined || state === "removed") continue;
      out.push({ labels: { service: tl.service, instance: id }, value: state === "down" ? 1 : 0 });
    }
    return out;
  }

  /** Services the registry mentioned. */
  services(): string[] {
    return [...new Set([...this.instances.values()].map((t) => t.service))].sort();
  }

  /** Forgets instances removed (or silent) since before `before`. */
  gc(before: number): void {
    for (const [id, tl] of this.instances) {
      const last = tl.changes[tl.changes.length - 1];
      if (!last || (last.at < before && (last.state === "removed" || last.state === "up"))) this.instances.delete(id);
    }
  }
}
