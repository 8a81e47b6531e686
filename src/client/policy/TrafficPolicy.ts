/**
 * Traffic policies, pure logic: validation of a stored policy (schema, then the rules a schema cannot
 * say: unique subset names, overrides naming a subset, valid semver ranges, some weight) and the
 * choice of a subset for a call (a header override, else a weighted draw among the subsets that
 * have instances). No I/O: the watcher reads the KV bucket, the executor applies the choice.
 */
import { compileSelector, decodeMessage, type CompiledSelector, type RoutingPolicy } from "../../protocol/index.js";

/** Largest stored policy accepted, in bytes. */
export const MAX_POLICY_BYTES = 64 * 1024;

/** One subset of a compiled policy. */
export interface PolicySubset {
  readonly name: string;
  readonly weight: number;
  /** Undefined: every instance of the service. */
  readonly selector: CompiledSelector | undefined;
}

/** A validated policy, ready for the call path. */
export interface CompiledPolicy {
  readonly service: string;
  /** KV revision of the stored value: which version of the policy served a call. */
  readonly revision: number;
  readonly subsets: readonly PolicySubset[];
  /** Header overrides with lower-case names, in order. */
  readonly overrides: ReadonlyArray<{ readonly header: string; readonly value: string; readonly subset: PolicySubset }>;
  /** The policy as stored. */
  readonly source: RoutingPolicy;
}

/** Why a stored policy was refused. */
export class InvalidPolicyError extends Error {
  override readonly name = "InvalidPolicyError";
}

/** Validates a policy object (as typed by a user or decoded); throws {@link InvalidPolicyError}. */
export function compilePolicy(policy: RoutingPolicy, revision: number): CompiledPolicy {
  const subsets: PolicySubset[] = [];
  const byName = new Map<string, PolicySubset>();
  let total = 0;
  for (const s of policy.subsets) {
    if (byName.has(s.name)) throw new InvalidPolicyError(`subset ${JSON.stringify(s.name)} is defined twice`);
    let selector: CompiledSelector | undefined;
    try {
      selector = compileSelector({ version: s.version, tags: s.tags });
    } catch (err) {
      throw new InvalidPolicyError(`subset ${s.name}: ${(err as Error).message}`);
    }
    const subset: PolicySubset = { name: s.name, weight: s.weight, selector };
    subsets.push(subset);
    byName.set(s.name, subset);
    total += s.weight;
  }
  if (!(total > 0)) throw new InvalidPolicyError("the weights of the subsets add up to 0: no call could be routed");
  const overrides = (policy.overrides ?? []).map((o) => {
    const subset = byName.get(o.subset);
    if (!subset) throw new InvalidPolicyError(`override ${o.header}: ${o.value} names subset ${JSON.stringify(o.subset)}, which the policy does not define`);
    return { header: o.header.toLowerCase(), value: o.value, subset };
  });
  return { service: policy.service, revision, subsets, overrides, source: policy };
}

/**
 * Decodes and validates a stored value for `key` (the service name); throws {@link InvalidPolicyError}
 * with the reason. A value stored under another service's key is refused.
 */
export function decodePolicy(key: string, data: Uint8Array, revision: number): CompiledPolicy {
  const d = decodeMessage("routing-policy", data, MAX_POLICY_BYTES);
  if (!d.ok) throw new InvalidPolicyError(d.error);
  if (d.value.service !== key) throw new InvalidPolicyError(`stored under key ${JSON.stringify(key)} but names service ${JSON.stringify(d.value.service)}`);
  return compilePolicy(d.value, revision);
}

/** Request headers as a call passes them: an object or nats.js headers. */
export type HeaderSource = Record<string, string> | { keys(): string[]; get(k: string): string } | undefined;

/** The value of header `lowerName` (compared case-insensitively), or undefined. */
function headerValue(headers: HeaderSource, lowerName: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof (headers as { keys?: unknown }).keys === "function" && typeof (headers as { get?: unknown }).get === "function") {
    const h = headers as { keys(): string[]; get(k: string): string };
    for (const k of h.keys()) if (k.toLowerCase() === lowerName) return h.get(k);
    return undefined;
  }
  for (const k of Object.keys(headers)) if (k.toLowerCase() === lowerName) return (headers as Record<string, string>)[k];
  return undefined;
}

/** The subset a call goes to and why. */
export interface SubsetChoice {
  readonly subset: PolicySubset;
  readonly by: "override" | "weight";
}

/**
 * Chooses the subset of a call: the first override whose header the request carries with that value
 * (that subset only, even when it has no instance: the caller asked for it); otherwise a weighted
 * draw among the subsets for which `hasInstances` is true (a subset whose instances are all gone
 * gives its share to the others). Null when no subset with weight has an instance.
 */
export function chooseSubset(
  policy: CompiledPolicy,
  headers: HeaderSource,
  hasInstances: (s: PolicySubset) => boolean,
  random: () => number,
): SubsetChoice | null {
  if (headers !== undefined) {
    for (const o of policy.overrides) {
      if (headerValue(headers, o.header) === o.value) return { subset: o.subset, by: "override" };
    }
  }
  let total = 0;
  const open: PolicySubset[] = [];
  for (const s of policy.subsets) {
    if (s.weight > 0 && hasInstances(s)) {
      open.push(s);
      total += s.weight;
    }
  }
  if (open.length === 0) return null;
  let x = random() * total;
  for (const s of open) {
    x -= s.weight;
    if (x < 0) return { subset: s, by: "weight" };
  }
  return { subset: open[open.length - 1]!, by: "weight" };
}
