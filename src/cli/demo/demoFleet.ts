/**
 * The demo's fleet: the demo service's instances, each its own child process, started side by
 * side, and the wait until the registry lists every one as up (so the balancer sees them all).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { InstanceView, Subjects } from "../../protocol/index.js";
import { requestSnapshot } from "../../gateway/index.js";
import { CliError } from "../CliError.js";
import type { CleanupStack } from "./CleanupStack.js";
import type { DemoNote } from "./demoNats.js";
import { startServiceProcess, stopServiceProcess, type ServiceProcess } from "./ServiceProcesses.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the fleet is made of. */
export interface FleetOptions {
  servers: string[];
  prefix: string;
  service: string;
  instances: number;
  heartbeatMs: number;
}

/**
 * Starts the instances side by side (on a busy machine each takes a moment to boot); resolves with
 * them in index order, or rejects with the first failure once all have settled (the started ones
 * are in `cleanups` either way).
 */
export async function startFleet(o: FleetOptions, note: DemoNote, cleanups: CleanupStack): Promise<ServiceProcess[]> {
  const procs: ServiceProcess[] = [];
  cleanups.push("demo service processes", async () => {
    await Promise.all(procs.map((p) => stopServiceProcess(p)));
  });
  const starts = await Promise.allSettled(
    Array.from({ length: o.instances }, (_, i) =>
      startServiceProcess({ index: i, servers: o.servers, prefix: o.prefix, service: o.service, heartbeatMs: o.heartbeatMs, jitterMs: 3 }),
    ),
  );
  for (const r of starts) if (r.status === "fulfilled") procs.push(r.value);
  procs.sort((a, b) => a.index - b.index);
  for (const p of procs) {
    note(`instance #${p.index + 1} of ${o.service} started: ${p.id} (pid ${p.pid})`, { kind: "instance", n: p.index + 1, id: p.id, pid: p.pid });
  }
  const failedStart = starts.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failedStart) throw failedStart.reason;
  return procs;
}

/**
 * Waits (up to 15 s) until a coordinator's snapshot lists every process as up, merging what it
 * learns into `views`. `interrupted` is checked between tries.
 */
export async function waitUntilRegistered(
  nc: NatsConnection,
  subjects: Subjects,
  service: string,
  procs: readonly ServiceProcess[],
  views: Map<string, InstanceView>,
  interrupted: () => boolean,
): Promise<void> {
  const readyBy = Date.now() + 15_000;
  for (;;) {
    if (interrupted()) throw new Interrupted();
    try {
      const snap = await requestSnapshot(nc, subjects, { service }, 1000);
      for (const v of snap.instances) if (!views.has(v.instance.id) || views.get(v.instance.id)!.since <= v.since) views.set(v.instance.id, v);
      if (procs.every((p) => snap.instances.some((v) => v.instance.id === p.id && v.state === "up"))) return;
    } catch {
      // coordinator still starting
    }
    if (Date.now() > readyBy) throw new CliError("the demo instances did not show up in the registry within 15 s");
    await sleep(100);
  }
}

/** Thrown to leave startup early when a signal arrived. */
export class Interrupted extends Error {}
