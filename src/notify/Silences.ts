/**
 * The current set of silences, pure: which silences mute an alert's labels at a given time, and
 * when the answer may next change (a silence starting or ending). Fed by the silence store's
 * watch; the caller owns the clock.
 */
import type { Silence } from "../protocol/index.js";
import { compileMatcher, matchesAll, type CompiledMatcher } from "./LabelMatchers.js";

interface Entry {
  silence: Silence;
  matchers: CompiledMatcher[];
}

/** See the module comment. */
export class Silences {
  private readonly byId = new Map<string, Entry>();

  /** Adds or replaces a silence; throws MatcherError when a matcher does not compile. */
  put(silence: Silence): void {
    this.byId.set(silence.id, { silence, matchers: silence.matchers.map(compileMatcher) });
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  get(id: string): Silence | undefined {
    return this.byId.get(id)?.silence;
  }

  /** Every silence known, in start order. */
  all(): Silence[] {
    return [...this.byId.values()].map((e) => e.silence).sort((a, b) => a.startsAt - b.startsAt || a.id.localeCompare(b.id));
  }

  /** Whether `s` is in force at `now`. */
  static isActive(s: Pick<Silence, "startsAt" | "endsAt">, now: number): boolean {
    return s.startsAt <= now && now < s.endsAt;
  }

  /** Ids of the silences muting `labels` at `now` (sorted). */
  silencing(labels: Readonly<Record<string, string>>, now: number): string[] {
    const ids: string[] = [];
    for (const e of this.byId.values()) if (Silences.isActive(e.silence, now) && matchesAll(e.matchers, labels)) ids.push(e.silence.id);
    return ids.sort();
  }

  /** The next time after `now` a silence starts or ends (undefined: none). */
  nextChangeAt(now: number): number | undefined {
    let next: number | undefined;
    for (const { silence: s } of this.byId.values()) {
      for (const t of [s.startsAt, s.endsAt]) if (t > now && (next === undefined || t < next)) next = t;
    }
    return next;
  }

  get size(): number {
    return this.byId.size;
  }
}
