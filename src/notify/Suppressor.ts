/**
 * Whether an alert is muted right now, and by what: the silences matching its labels and the
 * firing alerts inhibiting it. Pure given the silences, the inhibition rules and the firing
 * alerts it is handed; the caller owns the clock.
 */
import type { AlertEvent } from "../protocol/index.js";
import type { Inhibitor } from "./Inhibitor.js";
import type { Silences } from "./Silences.js";

/** Why an alert is muted (both empty: it is not). */
export interface Suppression {
  silencedBy: string[];
  inhibitedBy: string[];
}

/** See the module comment. */
export class Suppressor {
  constructor(
    private readonly silences: Silences,
    private readonly inhibitor: Inhibitor,
    /** Every alert firing now (any service, any notifier): the possible inhibition sources. */
    private readonly firing: () => Iterable<AlertEvent>,
  ) {}

  status(alert: Pick<AlertEvent, "fingerprint" | "labels">, now: number): Suppression {
    return { silencedBy: this.silences.silencing(alert.labels, now), inhibitedBy: this.inhibitor.inhibitedBy(alert, this.firing()) };
  }

  isSuppressed(alert: Pick<AlertEvent, "fingerprint" | "labels">, now: number): boolean {
    if (this.silences.silencing(alert.labels, now).length > 0) return true;
    return this.inhibitor.size > 0 && this.inhibitor.inhibitedBy(alert, this.firing()).length > 0;
  }

  /** The next time a silence starts or ends (inhibition changes arrive as alert changes). */
  nextChangeAt(now: number): number | undefined {
    return this.silences.nextChangeAt(now);
  }
}
