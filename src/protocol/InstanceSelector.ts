/**
 * Selectors: which instances of a service a call, a registry query or a traffic-policy subset may
 * use, by version (a semver range, npm's grammar through the `semver` package), required tags and
 * zone. One implementation for every place that selects (client router, coordinator queries, CLI,
 * gateway, traffic policies), so they always agree.
 */
import semver from "semver";
import type { InstanceRecord } from "./types.generated.js";
import { isToken } from "./subjects.js";

/** What an instance must be to be selected. Every field is optional; an empty selector selects all. */
export interface InstanceSelector {
  /** Semver range the instance's `version` must satisfy (`^2.1.0`, `1.x`, `2.0.0-canary`). Pre-releases match only ranges that name one (npm's rule). */
  version?: string | undefined;
  /** Tags the instance must all carry. */
  tags?: readonly string[] | undefined;
  /** Zone the instance must be in (for a call, the zone option is a preference, not a filter: see CALLS.md). */
  zone?: string | undefined;
}

/** A validated selector, ready to test records. */
export interface CompiledSelector {
  /** Canonical text of the selector: equal keys select the same instances. */
  readonly key: string;
  /** Human text of the selector: `version ^2.1.0, tags gpu,ssd, zone eu-1`. */
  readonly text: string;
  /** True when `record` satisfies every part of the selector. */
  matches(record: InstanceRecord): boolean;
}

/** Limits (the same as the schemas'). */
const MAX_RANGE_LENGTH = 256;
const MAX_TAGS = 64;
const MAX_TAG_LENGTH = 64;

/** An invalid selector: the message says which part and why. */
export class InvalidSelectorError extends TypeError {
  override readonly name = "InvalidSelectorError";
}

/** Checks a semver range; returns it trimmed or throws {@link InvalidSelectorError}. */
export function checkVersionRange(range: unknown): string {
  if (typeof range !== "string" || range.trim() === "" || range.length > MAX_RANGE_LENGTH) {
    throw new InvalidSelectorError(`version must be a semver range of 1-${MAX_RANGE_LENGTH} characters, got ${describe(range)}`);
  }
  const trimmed = range.trim();
  if (semver.validRange(trimmed) === null) throw new InvalidSelectorError(`version ${JSON.stringify(trimmed)} is not a semver range (examples: ^2.1.0, 1.x, >=1.2 <2)`);
  return trimmed;
}

/** Checks a list of tags; returns a sorted, de-duplicated copy or throws {@link InvalidSelectorError}. */
export function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags) || tags.length > MAX_TAGS) throw new InvalidSelectorError(`tags must be a list of at most ${MAX_TAGS} strings, got ${describe(tags)}`);
  for (const t of tags) {
    if (typeof t !== "string" || t.length === 0 || t.length > MAX_TAG_LENGTH) {
      throw new InvalidSelectorError(`each tag must be a string of 1-${MAX_TAG_LENGTH} characters, got ${describe(t)}`);
    }
  }
  return [...new Set(tags as string[])].sort();
}

/** Checks a zone name (a subject token); returns it or throws {@link InvalidSelectorError}. */
export function checkZone(zone: unknown): string {
  if (!isToken(zone)) throw new InvalidSelectorError(`zone must be 1-64 letters, digits, '_' or '-', got ${describe(zone)}`);
  return zone;
}

/**
 * Validates and compiles a selector (the zone included, as a filter). Returns undefined for an empty
 * selector. Throws {@link InvalidSelectorError}.
 */
export function compileSelector(sel: InstanceSelector | undefined, opts: { zone?: boolean } = {}): CompiledSelector | undefined {
  if (sel === undefined || sel === null) return undefined;
  if (typeof sel !== "object") throw new InvalidSelectorError(`a selector must be an object, got ${describe(sel)}`);
  const range = sel.version === undefined ? undefined : new semver.Range(checkVersionRange(sel.version));
  const tags = sel.tags === undefined ? undefined : checkTags(sel.tags);
  const zone = opts.zone === false || sel.zone === undefined ? undefined : checkZone(sel.zone);
  if (range === undefined && (tags === undefined || tags.length === 0) && zone === undefined) return undefined;
  const key = `v=${range?.range ?? ""}|t=${tags?.join(",") ?? ""}|z=${zone ?? ""}`;
  const parts: string[] = [];
  if (range !== undefined) parts.push(`version ${range.range || "*"}`);
  if (tags !== undefined && tags.length > 0) parts.push(`tags ${tags.join(",")}`);
  if (zone !== undefined) parts.push(`zone ${zone}`);
  return {
    key,
    text: parts.join(", "),
    matches(record: InstanceRecord): boolean {
      if (zone !== undefined && record.zone !== zone) return false;
      if (tags !== undefined && tags.length > 0) {
        const have = record.tags;
        if (!Array.isArray(have)) return false;
        for (const t of tags) if (!have.includes(t)) return false;
      }
      if (range !== undefined) {
        // A version that is not semver never satisfies a range.
        if (typeof record.version !== "string" || semver.valid(record.version) === null) return false;
        if (!range.test(record.version)) return false;
      }
      return true;
    },
  };
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return value === null ? "null" : typeof value;
}
