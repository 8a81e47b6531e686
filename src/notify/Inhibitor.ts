/**
 * Inhibition as Alertmanager does it, pure: while an alert matching a rule's `source` matchers
 * fires, alerts matching its `target` matchers with equal values of the `equal` labels are muted.
 * An alert never inhibits itself (same fingerprint). Rules are validated at construction.
 */
import type { InhibitRule } from "../protocol/index.js";
import { compileMatcher, labelValue, matchesAll, parseMatcher, type CompiledMatcher } from "./LabelMatchers.js";

interface CompiledRule {
  source: CompiledMatcher[];
  target: CompiledMatcher[];
  equal: readonly string[];
}

/** An alert as inhibition sees it. */
export interface InhibitionCandidate {
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** See the module comment. */
export class Inhibitor {
  private readonly rules: CompiledRule[];

  /** Throws MatcherError (naming the rule) for a matcher that does not parse. */
  constructor(rules: readonly InhibitRule[]) {
    this.rules = rules.map((r, i) => {
      const compile = (list: readonly string[], what: string) =>
        list.map((text) => {
          try {
            return compileMatcher(parseMatcher(text));
          } catch (err) {
            throw new Error(`inhibitRules[${i}].${what}: ${(err as Error).message}`);
          }
        });
      return { source: compile(r.source, "source"), target: compile(r.target, "target"), equal: r.equal ?? [] };
    });
  }

  get size(): number {
    return this.rules.length;
  }

  /** Fingerprints of the firing `sources` that inhibit `target` (sorted, without duplicates). */
  inhibitedBy(target: InhibitionCandidate, sources: Iterable<InhibitionCandidate>): string[] {
    if (this.rules.length === 0) return [];
    const applicable = this.rules.filter((r) => matchesAll(r.target, target.labels));
    if (applicable.length === 0) return [];
    const by = new Set<string>();
    for (const s of sources) {
      if (s.fingerprint === target.fingerprint) continue;
      for (const r of applicable) {
        if (!matchesAll(r.source, s.labels)) continue;
        if (r.equal.every((name) => labelValue(s.labels, name) === labelValue(target.labels, name))) {
          by.add(s.fingerprint);
          break;
        }
      }
    }
    return [...by].sort();
  }
}
