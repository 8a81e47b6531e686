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
  /** Ordered by `at`. */
  changes: Array<{ at: number; state: State }>;
}

/** See the module comment. */
export class InstanceDownTracker {
  private readonly instances = new Map<string, Timeline>();

  /** Applies a registry event (or an instance from a registry snapshot, with its `since`). */
  apply(ev: Pick<RegistryEvent, "type" | "at" | "instance">): void {
    const { id, service } = ev.instance.instance;
    let tl = this.instances.get(id);
    if (!tl) {
      tl = { service, changes: [] };
      this.instances.set(id, tl);
    }
    let i = tl.changes.length;
    while (i > 0 && tl.changes[i - 1]!.at > ev.at) i--;
    const prev = tl.changes[i - 1];
    if (prev && prev.at === ev.at && prev.state === ev.type) return; // the same event twice (two coordinators)
    tl.changes.splice(i, 0, { at: ev.at, state: ev.type });
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
