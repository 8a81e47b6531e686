/**
 * Alertmanager-style grouping, pure: alerts are gathered into groups (per route and per values of
 * the `groupBy` labels); a new group is mailed after `groupWait`, later changes at most every
 * `groupInterval`, and alerts still firing and not acknowledged are re-mailed every
 * `repeatInterval`. A failed mail is retried with backoff. Alerts the `suppressed` predicate mutes
 * (silences, inhibition) are recorded but not mailed: their held transitions are handed back
 * through {@link AlertGrouper.takeSuppressed} for acknowledgement, a muted firing alert is mailed
 * as firing once it is no longer suppressed (if it still fires), and the resolution of an alert
 * never mailed as firing is not mailed. The caller owns time (`now`) and randomness and performs
 * the I/O; the grouper only decides what to mail when.
 */
import type { AlertEvent } from "../protocol/index.js";
import { backoffDelay } from "./backoff.js";
import { labelValue } from "./LabelMatchers.js";
import type { ResolvedRoute } from "./AlertRouter.js";
import type { GroupTimings } from "./types.js";

/** `fingerprint.status.startsAt`: one transition of one alert. */
export function transitionKey(a: Pick<AlertEvent, "fingerprint" | "status" | "startsAt">): string {
  return `${a.fingerprint}.${a.status}.${a.startsAt}`;
}

/** A transition waiting to be mailed, with the handles (stream messages) to acknowledge once it is. */
export interface HeldTransition<T> {
  readonly key: string;
  alert: AlertEvent;
  refs: T[];
}

/** What to mail now, for one group. */
export interface Notification<T> {
  readonly id: number;
  readonly groupKey: string;
  readonly route: ResolvedRoute;
  /** Values of the group's `groupBy` labels. */
  readonly groupLabels: Readonly<Record<string, string>>;
  /** `alerts`: transitions to report; `repeat`: a reminder of alerts still firing. */
  readonly kind: "alerts" | "repeat";
  readonly transitions: ReadonlyArray<HeldTransition<T>>;
  /** For repeats: the firing, unacknowledged alerts. */
  readonly firing: readonly AlertEvent[];
}

/** An operator acknowledgement. */
export interface Acknowledgement {
  by: string;
  /** When it was given: it covers firing episodes that started at or before this. */
  at: number;
  until?: number;
  comment?: string;
}

interface Group<T> {
  key: string;
  route: ResolvedRoute;
  labels: Record<string, string>;
  pending: Map<string, HeldTransition<T>>;
  firing: Map<string, AlertEvent>;
  /** Firing alerts not mailed because they were suppressed when their group was due. */
  muted: Set<string>;
  createdAt: number;
  lastSentAt: number | undefined;
  retryAt: number | undefined;
  attempts: number;
  inFlight: number | undefined;
}

/** Options of {@link AlertGrouper}. */
export interface AlertGrouperOptions {
  timings: GroupTimings;
  /** Default labels splitting groups. */
  groupBy: readonly string[];
  retryInitialMs: number;
  retryMaxMs: number;
  random?: () => number;
  /** Whether an alert is muted (silenced or inhibited) at `now`; default never. */
  suppressed?: (alert: AlertEvent, now: number) => boolean;
}

/** A transition that was due while suppressed: recorded, not mailed. */
export interface SuppressedTransition<T> {
  readonly route: ResolvedRoute;
  readonly transition: HeldTransition<T>;
}

/** See the module comment. */
export class AlertGrouper<T> {
  private readonly groups = new Map<string, Group<T>>();
  private readonly acks = new Map<string, Acknowledgement>();
  private nextId = 1;
  private readonly random: () => number;
  private readonly suppressed: (alert: AlertEvent, now: number) => boolean;
  private suppressedOut: Array<SuppressedTransition<T>> = [];

  constructor(private readonly opts: AlertGrouperOptions) {
    this.random = opts.random ?? Math.random;
    this.suppressed = opts.suppressed ?? (() => false);
  }

  private timing(route: ResolvedRoute): GroupTimings {
    return {
      groupWaitMs: route.groupWaitMs ?? this.opts.timings.groupWaitMs,
      groupIntervalMs: route.groupIntervalMs ?? this.opts.timings.groupIntervalMs,
      repeatIntervalMs: route.repeatIntervalMs ?? this.opts.timings.repeatIntervalMs,
    };
  }

  private groupFor(route: ResolvedRoute, alert: AlertEvent, now: number): Group<T> {
    const labels = Object.create(null) as Record<string, string>;
    for (const name of route.groupBy ?? this.opts.groupBy) labels[name] = labelValue(alert.labels, name);
    const key = `${route.name}\u0000${JSON.stringify(labels)}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { key, route, labels, pending: new Map(), firing: new Map(), muted: new Set(), createdAt: now, lastSentAt: undefined, retryAt: undefined, attempts: 0, inFlight: undefined };
      this.groups.set(key, g);
    }
    return g;
  }

  /**
   * Holds a transition for `route` until its group is mailed. The same transition again (a
   * redelivery) only adds its handle.
   */
  add(route: ResolvedRoute, alert: AlertEvent, ref: T, now: number): boolean {
    const g = this.groupFor(route, alert, now);
    const key = transitionKey(alert);
    const held = g.pending.get(key);
    if (held) {
      held.refs.push(ref);
      return true;
    }
    if (alert.status === "resolved" && g.muted.has(alert.fingerprint) && (g.firing.get(alert.fingerprint)?.startsAt ?? Infinity) <= alert.startsAt) {
      // Never mailed as firing (suppressed): its resolution is not news to anyone.
      g.muted.delete(alert.fingerprint);
      g.firing.delete(alert.fingerprint);
      this.dropIfEmpty(g);
      return false;
    }
    g.pending.set(key, { key, alert, refs: [ref] });
    this.track(g, alert);
    return true;
  }

  private dropIfEmpty(g: Group<T>): void {
    if (g.pending.size === 0 && g.firing.size === 0 && g.inFlight === undefined) this.groups.delete(g.key);
  }

  /**
   * Remembers a firing alert already mailed (state restored after a restart) so that it is
   * repeated on schedule and its resolution lands in the same group.
   */
  restoreFiring(route: ResolvedRoute, alert: AlertEvent, lastSentAt: number, now: number): void {
    const g = this.groupFor(route, alert, now);
    g.firing.set(alert.fingerprint, alert);
    g.muted.delete(alert.fingerprint);
    g.lastSentAt = Math.max(g.lastSentAt ?? 0, lastSentAt);
  }

  /** Remembers a firing alert that was recorded but not mailed (suppressed), after a restart. */
  restoreMuted(route: ResolvedRoute, alert: AlertEvent, now: number): void {
    const g = this.groupFor(route, alert, now);
    g.firing.set(alert.fingerprint, alert);
    g.muted.add(alert.fingerprint);
  }

  private track(g: Group<T>, alert: AlertEvent): void {
    const current = g.firing.get(alert.fingerprint);
    if (alert.status === "firing") {
      if (!current || current.startsAt <= alert.startsAt) g.firing.set(alert.fingerprint, alert);
    } else if (current && current.startsAt <= alert.startsAt) {
      g.firing.delete(alert.fingerprint);
      g.muted.delete(alert.fingerprint);
    }
  }

  /** Records an acknowledgement: no more repeats of the episode(s) it covers. */
  acknowledge(fingerprint: string, ack: Acknowledgement): void {
    this.acks.set(fingerprint, ack);
  }

  /** The acknowledgement of a fingerprint, if any. */
  acknowledgement(fingerprint: string): Acknowledgement | undefined {
    return this.acks.get(fingerprint);
  }

  /** Forgets an acknowledgement (its episode ended). */
  forgetAcknowledgement(fingerprint: string): void {
    this.acks.delete(fingerprint);
  }

  /** Whether repeats of `alert` are silenced at `now`. */
  isAcknowledged(alert: Pick<AlertEvent, "fingerprint" | "startsAt">, now: number): boolean {
    const a = this.acks.get(alert.fingerprint);
    return !!a && alert.startsAt <= a.at && (a.until === undefined || now < a.until);
  }

  /** Every firing alert known, once per fingerprint. */
  firingAlerts(): AlertEvent[] {
    const out = new Map<string, AlertEvent>();
    for (const g of this.groups.values()) for (const a of g.firing.values()) out.set(a.fingerprint, a);
    return [...out.values()];
  }

  /** The firing alert known for a fingerprint, in any group. */
  firingAlert(fingerprint: string): AlertEvent | undefined {
    for (const g of this.groups.values()) {
      const a = g.firing.get(fingerprint);
      if (a) return a;
    }
    return undefined;
  }

  /** Muted alerts of `g` no longer suppressed at `now`. */
  private unmuted(g: Group<T>, now: number): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const fp of g.muted) {
      const a = g.firing.get(fp);
      if (a && !this.suppressed(a, now)) out.push(a);
    }
    return out;
  }

  private dueAt(g: Group<T>, now: number): number | undefined {
    if (g.inFlight !== undefined) return undefined;
    const t = this.timing(g.route);
    let due: number | undefined;
    if (g.pending.size > 0 || this.unmuted(g, now).length > 0) {
      due = g.lastSentAt === undefined ? g.createdAt + t.groupWaitMs : g.lastSentAt + t.groupIntervalMs;
    } else if (g.lastSentAt !== undefined && g.firing.size > 0) {
      if (this.repeatable(g, now).length > 0) due = g.lastSentAt + t.repeatIntervalMs;
      else {
        // Everything is acknowledged; an acknowledgement with an end resumes repeats then.
        let resume: number | undefined;
        for (const a of g.firing.values()) {
          const until = this.acks.get(a.fingerprint)?.until;
          if (until !== undefined && (resume === undefined || until < resume)) resume = until;
        }
        if (resume !== undefined) due = Math.max(resume, g.lastSentAt + t.repeatIntervalMs);
      }
    }
    if (due !== undefined && g.retryAt !== undefined) due = Math.max(due, g.retryAt);
    return due;
  }

  private repeatable(g: Group<T>, now: number): AlertEvent[] {
    return [...g.firing.values()].filter((a) => !g.muted.has(a.fingerprint) && !this.isAcknowledged(a, now) && !this.suppressed(a, now));
  }

  /** Notifications due at `now`; each group is then in flight until {@link sent} or {@link failed}. */
  due(now: number): Array<Notification<T>> {
    const out: Array<Notification<T>> = [];
    for (const g of this.groups.values()) {
      const at = this.dueAt(g, now);
      if (at === undefined || at > now) continue;
      const unmuted = this.unmuted(g, now);
      const hadTransitions = g.pending.size > 0 || unmuted.length > 0;
      // Muted alerts that are no longer suppressed are announced now, as firing.
      for (const a of unmuted) {
        g.muted.delete(a.fingerprint);
        const key = transitionKey(a);
        if (!g.pending.has(key)) g.pending.set(key, { key, alert: a, refs: [] });
      }
      for (const [key, held] of g.pending) {
        if (!this.suppressed(held.alert, now)) continue;
        g.pending.delete(key);
        if (held.alert.status === "firing") g.muted.add(held.alert.fingerprint);
        this.suppressedOut.push({ route: g.route, transition: held });
      }
      if (g.pending.size > 0) {
        const id = this.nextId++;
        g.inFlight = id;
        out.push({ id, groupKey: g.key, route: g.route, groupLabels: g.labels, kind: "alerts", transitions: [...g.pending.values()], firing: [] });
      } else if (hadTransitions) {
        // Everything that was due is suppressed: nothing to mail now (repeats keep their own schedule).
        this.dropIfEmpty(g);
      } else {
        const firing = this.repeatable(g, now);
        if (firing.length === 0) continue;
        const id = this.nextId++;
        g.inFlight = id;
        out.push({ id, groupKey: g.key, route: g.route, groupLabels: g.labels, kind: "repeat", transitions: [], firing });
      }
    }
    return out;
  }

  /** Transitions found suppressed by {@link due} since the last call: record them and acknowledge their handles. */
  takeSuppressed(): Array<SuppressedTransition<T>> {
    const out = this.suppressedOut;
    this.suppressedOut = [];
    return out;
  }

  /** Whether a firing alert of any group is muted (recorded, never mailed). */
  isMuted(fingerprint: string): boolean {
    for (const g of this.groups.values()) if (g.muted.has(fingerprint)) return true;
    return false;
  }

  /** The earliest time something becomes due (undefined: nothing scheduled). */
  nextDueAt(now: number): number | undefined {
    let next: number | undefined;
    for (const g of this.groups.values()) {
      const at = this.dueAt(g, now);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** The SMTP server accepted the mail of `n`: its transitions are done. */
  sent(n: Notification<T>, now: number): void {
    const g = this.groups.get(n.groupKey);
    if (!g || g.inFlight !== n.id) return;
    g.inFlight = undefined;
    g.lastSentAt = now;
    g.retryAt = undefined;
    g.attempts = 0;
    for (const t of n.transitions) {
      g.pending.delete(t.key);
      if (t.alert.status === "resolved") this.acks.delete(t.alert.fingerprint);
    }
    if (g.pending.size === 0 && g.firing.size === 0) this.groups.delete(g.key);
  }

  /** The mail of `n` failed: retry after a backoff. Returns the delay. */
  failed(n: Notification<T>, now: number): number {
    const g = this.groups.get(n.groupKey);
    if (!g || g.inFlight !== n.id) return 0;
    g.inFlight = undefined;
    g.attempts++;
    const delay = backoffDelay(g.attempts, this.opts.retryInitialMs, this.opts.retryMaxMs, this.random);
    g.retryAt = now + delay;
    return delay;
  }

  /**
   * Drops transitions already mailed by someone else (found in the sent records) without mailing
   * them; returns their handles for acknowledgement.
   */
  drop(groupKey: string, key: string, now: number): T[] {
    const g = this.groups.get(groupKey);
    const held = g?.pending.get(key);
    if (!g || !held) return [];
    g.pending.delete(key);
    // It was mailed (by an earlier run): repeats count from now.
    g.lastSentAt ??= now;
    if (g.pending.size === 0 && g.firing.size === 0 && g.inFlight === undefined) this.groups.delete(groupKey);
    return held.refs;
  }

  /** Every handle held (for progress acks while waiting). */
  heldRefs(): T[] {
    const refs: T[] = [];
    for (const g of this.groups.values()) for (const t of g.pending.values()) refs.push(...t.refs);
    return refs;
  }

  /** Transitions held right now. */
  get heldCount(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.pending.size;
    return n;
  }

  /** Groups right now. */
  get groupCount(): number {
    return this.groups.size;
  }
}
