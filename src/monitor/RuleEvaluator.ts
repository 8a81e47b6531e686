/**
 * The alert state machine, pure: given a rule, an evaluation time and the value of each of the
 * rule's series at that time, it moves each alert inactive → pending → firing → resolved and
 * returns the transitions to publish (firing and resolved; pending is internal). No I/O, no clock
 * of its own: the collector passes step times, tests pass whatever they like.
 */
import type { AlertEvent } from "../protocol/index.js";
import { alertFingerprint } from "./fingerprint.js";
import { renderTemplate } from "./templates.js";
import type { ComparisonOp, CompiledRule, RestoredAlert, SeriesValue, TrackedAlert } from "./types.js";

/** `value op threshold`; false for undefined or NaN (no data never fires). */
export function compare(value: number | undefined, op: ComparisonOp, threshold: number): boolean {
  if (value === undefined || Number.isNaN(value)) return false;
  switch (op) {
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
    case "==":
      return value === threshold;
    case "!=":
      return value !== threshold;
  }
}

/** The full label set of an alert of `rule` on a series: rule labels, then the identifying ones. */
export function alertLabels(rule: CompiledRule, seriesLabels: Readonly<Record<string, string>>): Record<string, string> {
  const labels: Record<string, string> = { ...rule.labels, ...seriesLabels, alertname: rule.name, severity: rule.severity };
  if (rule.endpoint !== undefined) labels.endpoint = rule.endpoint;
  return labels;
}

/** Options of {@link RuleEvaluator}. */
export interface RuleEvaluatorOptions {
  /** Written into every event's `generator` (the collector id). */
  generator?: string;
}

/** Tracks pending and firing alerts of every rule; see the module comment. */
export class RuleEvaluator {
  private readonly byRule = new Map<CompiledRule, Map<string, TrackedAlert>>();
  private readonly restored = new Map<string, RestoredAlert>();
  private restoreGraceUntil = 0;

  constructor(private readonly opts: RuleEvaluatorOptions = {}) {}

  /**
   * Takes over firing alerts a previous run left (see {@link RestoredAlert}). A restored alert whose
   * series holds again continues silently with its original start; one whose series is back and
   * does not hold resolves; one whose series has no data is kept until `graceUntil` (the collector
   * needs a window of data before it can judge), then resolves.
   */
  restore(alerts: readonly RestoredAlert[], graceUntil: number): void {
    for (const a of alerts) this.restored.set(a.fingerprint, a);
    this.restoreGraceUntil = graceUntil;
  }

  /** Evaluates `rule` at time `t` over its series; returns the transitions, each exactly once. */
  evaluate(rule: CompiledRule, t: number, series: readonly SeriesValue[]): AlertEvent[] {
    let states = this.byRule.get(rule);
    if (!states) {
      states = new Map();
      this.byRule.set(rule, states);
    }
    const out: AlertEvent[] = [];
    const seen = new Set<string>();
    for (const s of series) {
      const labels = alertLabels(rule, s.labels);
      const fp = alertFingerprint(labels);
      if (seen.has(fp)) continue;
      seen.add(fp);
      const holds = compare(s.value, rule.op, rule.threshold);
      const state = states.get(fp);
      const restored = this.restored.get(fp);
      if (!state && restored) {
        if (holds) {
          states.set(fp, { fingerprint: fp, rule, state: "firing", labels, value: s.value, activeAt: restored.activeAt ?? restored.startsAt, startsAt: restored.startsAt });
          this.restored.delete(fp);
        } else if (s.value !== undefined || t >= this.restoreGraceUntil) {
          this.restored.delete(fp);
          out.push(this.event(rule, "resolved", labels, fp, s.value, restored.activeAt ?? restored.startsAt, restored.startsAt, t));
        }
        continue;
      }
      if (holds) {
        if (!state) {
          const tracked: TrackedAlert = { fingerprint: fp, rule, state: "pending", labels, value: s.value, activeAt: t };
          states.set(fp, tracked);
          if (rule.forMs === 0) out.push(this.fire(tracked, t));
        } else {
          state.value = s.value;
          if (state.state === "pending" && t - state.activeAt >= rule.forMs) out.push(this.fire(state, t));
        }
      } else if (state) {
        states.delete(fp);
        if (state.state === "firing") out.push(this.event(rule, "resolved", state.labels, fp, s.value, state.activeAt, state.startsAt!, t));
      }
    }
    // Series that vanished (instance gone, service without data): their alerts end as if the condition failed.
    for (const [fp, state] of states) {
      if (seen.has(fp)) continue;
      states.delete(fp);
      if (state.state === "firing") out.push(this.event(rule, "resolved", state.labels, fp, undefined, state.activeAt, state.startsAt!, t));
    }
    return out;
  }

  /**
   * Resolves restored alerts that no rule's series claimed once the grace period is over (their
   * rule was removed, or their series never came back). Call once per step after every rule.
   */
  expireRestored(t: number): AlertEvent[] {
    if (this.restored.size === 0 || t < this.restoreGraceUntil) return [];
    const out: AlertEvent[] = [];
    for (const a of this.restored.values()) {
      const ev: AlertEvent = { ...a, status: "resolved", value: null, endsAt: t };
      if (this.opts.generator) ev.generator = this.opts.generator;
      out.push(ev);
    }
    this.restored.clear();
    return out;
  }

  /** Every pending and firing alert. */
  active(): TrackedAlert[] {
    const all: TrackedAlert[] = [];
    for (const states of this.byRule.values()) all.push(...states.values());
    return all;
  }

  /** Restored alerts not yet claimed by a series. */
  get restoredCount(): number {
    return this.restored.size;
  }

  private fire(state: TrackedAlert, t: number): AlertEvent {
    state.state = "firing";
    state.startsAt = t;
    return this.event(state.rule, "firing", state.labels, state.fingerprint, state.value, state.activeAt, t, undefined);
  }

  private event(
    rule: CompiledRule,
    status: "firing" | "resolved",
    labels: Record<string, string>,
    fingerprint: string,
    value: number | undefined,
    activeAt: number,
    startsAt: number,
    endsAt: number | undefined,
  ): AlertEvent {
    const annotations: Record<string, string> = {};
    for (const [k, tpl] of Object.entries(rule.annotations)) {
      annotations[k] = renderTemplate(tpl, { value, threshold: rule.threshold, labels }).slice(0, 8192);
    }
    const ev: AlertEvent = {
      v: 1,
      fingerprint,
      status,
      rule: rule.name,
      service: labels.service!,
      severity: rule.severity,
      metric: rule.metric,
      op: rule.op,
      threshold: rule.threshold,
      value: value === undefined || !Number.isFinite(value) ? null : value,
      labels,
      annotations,
      activeAt,
      startsAt,
    };
    if (labels.instance !== undefined) ev.instance = labels.instance;
    if (endsAt !== undefined) ev.endsAt = endsAt;
    if (this.opts.generator) ev.generator = this.opts.generator;
    return ev;
  }
}
