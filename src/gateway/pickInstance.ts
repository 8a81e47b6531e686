/**
 * Which instance `GET /query` names: among live (`up`) instances, the one with the lowest load
 * (in-flight requests), rotating between equally loaded ones so repeated queries spread out.
 * Pure: the rotation counter is passed in.
 */
import type { InstanceView } from "../protocol/index.js";

/** Picks an instance, or undefined when none is up. `turn` rotates ties (pass an increasing counter). */
export function pickInstance(instances: readonly InstanceView[], turn: number): InstanceView | undefined {
  const up = instances.filter((i) => i.state === "up" && i.status !== "draining");
  if (up.length === 0) return undefined;
  const least = Math.min(...up.map((i) => i.inFlight));
  const candidates = up.filter((i) => i.inFlight === least).sort((a, b) => (a.instance.id < b.instance.id ? -1 : 1));
  return candidates[Math.abs(turn) % candidates.length];
}

/**
 * The address the seed's query reply carries: the registered `serviceAddress` for instances
 * registered over HTTP, else a `nats:` address naming the instance's own subject prefix.
 */
export function addressOf(view: InstanceView, prefix: string): string {
  return view.instance.address ?? view.instance.metadata?.address ?? `nats:${prefix}.inst.${view.instance.service}.${view.instance.id}`;
}
