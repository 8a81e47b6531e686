/**
 * Label matchers as Prometheus and Alertmanager write them (`name=value`, `name!=value`,
 * `name=~regex`, `name!~regex`), pure. Regular expressions are RE2 (the syntax Prometheus and
 * Alertmanager use), anchored at both ends, and run by re2js in linear time, so a matcher from
 * the bus cannot stall a notifier with catastrophic backtracking. A label the alert lacks has the
 * value "" (so `team=""` matches alerts without a team, as in Alertmanager).
 */
import { RE2JS } from "re2js";
import type { LabelMatcher } from "../protocol/index.js";

/** A matcher ready to test labels. */
export interface CompiledMatcher {
  readonly source: LabelMatcher;
  matches(labels: Readonly<Record<string, string>>): boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const TEXT = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/s;

/** Thrown for a matcher that cannot be parsed or compiled; the message says which and why. */
export class MatcherError extends Error {
  override readonly name = "MatcherError";
}

/** Parses `name=value`, `name!=value`, `name=~regex`, `name!~regex`; the value may be double-quoted (JSON escapes). */
export function parseMatcher(text: string): LabelMatcher {
  const m = TEXT.exec(text);
  if (!m) throw new MatcherError(`${JSON.stringify(text)} is not a matcher: use name=value, name!=value, name=~regex or name!~regex`);
  let value = m[3]!;
  if (value.startsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (typeof parsed !== "string") throw new Error("not a string");
      value = parsed;
    } catch {
      throw new MatcherError(`${JSON.stringify(text)}: the quoted value is not a valid string`);
    }
  }
  const matcher: LabelMatcher = { name: m[1]!, op: m[2] as LabelMatcher["op"], value };
  compileMatcher(matcher);
  return matcher;
}

/** Prints a matcher the way {@link parseMatcher} reads it. */
export function formatMatcher(m: LabelMatcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

/** A label's value, "" when absent; never an inherited property (`constructor`, `__proto__`). */
export function labelValue(labels: Readonly<Record<string, string>>, name: string): string {
  return Object.hasOwn(labels, name) ? labels[name]! : "";
}

/** Compiles a matcher; throws {@link MatcherError} for a bad name or regular expression. */
export function compileMatcher(m: LabelMatcher): CompiledMatcher {
  if (!NAME.test(m.name)) throw new MatcherError(`invalid label name ${JSON.stringify(m.name)}`);
  if (m.value.length > 1024) throw new MatcherError(`the value of the ${m.name} matcher is longer than 1024 characters`);
  const value = (labels: Readonly<Record<string, string>>) => labelValue(labels, m.name);
  switch (m.op) {
    case "=":
      return { source: m, matches: (l) => value(l) === m.value };
    case "!=":
      return { source: m, matches: (l) => value(l) !== m.value };
    case "=~":
    case "!~": {
      let re: RE2JS;
      try {
        re = RE2JS.compile(`^(?:${m.value})$`);
      } catch (err) {
        throw new MatcherError(`${m.name}${m.op}${JSON.stringify(m.value)}: not a valid regular expression (${(err as Error).message})`);
      }
      const positive = m.op === "=~";
      return { source: m, matches: (l) => re.matches(value(l)) === positive };
    }
    default:
      throw new MatcherError(`unknown matcher operator ${JSON.stringify((m as { op: unknown }).op)}`);
  }
}

/** True when every matcher matches (an empty list matches everything). */
export function matchesAll(matchers: readonly CompiledMatcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) if (!m.matches(labels)) return false;
  return true;
}
