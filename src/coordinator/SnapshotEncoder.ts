/**
 * Encodes registry snapshots for query replies. A query of 10 000 instances must be answered in a few
 * milliseconds, so each instance's record is serialized once (cached by the state machine) and only
 * the liveness fields are formatted per query. A snapshot larger than the server's max_payload is split
 * into parts (`part`/`parts`), each a valid `registry-snapshot` on its own.
 */
import type { RegistryStateMachine } from "./RegistryStateMachine.js";
import type { RegistryEntry, RegistryFilter } from "./types.js";

/** The header fields of a snapshot. */
export interface SnapshotHeader {
  revision: number;
  coordinator: string;
  leader: boolean;
  at: number;
}

/** Room left in every part for the header fields and the NATS headers/reply subject. */
const PART_OVERHEAD = 2048;

/** Encodes the instances matching `filter` as one or more `registry-snapshot` bodies of at most `maxBytes` each. */
export function encodeSnapshot(
  sm: RegistryStateMachine,
  filter: RegistryFilter,
  header: SnapshotHeader,
  maxBytes: number,
): Buffer[] {
  const views: string[] = [];
  const sizes: number[] = [];
  let total = 0;
  sm.forEach(filter, (e: RegistryEntry) => {
    const s =
      `{"instance":${sm.recordJson(e)},"state":"${e.state}","since":${e.since},"lastSeen":${e.lastSeen}` +
      `,"seq":${e.seq < 0 ? 0 : e.seq},"inFlight":${e.inFlight},"status":"${e.status}"}`;
    const n = Buffer.byteLength(s);
    views.push(s);
    sizes.push(n);
    total += n + 1;
  });
  const head = `{"v":1,"revision":${header.revision},"coordinator":${JSON.stringify(header.coordinator)},"leader":${header.leader},"at":${header.at}`;
  const budget = Math.max(1024, maxBytes - PART_OVERHEAD);
  if (total + head.length + 20 <= budget) {
    return [Buffer.from(`${head},"instances":[${views.join(",")}]}`)];
  }
  // Greedy split: as many instances per part as fit.
  const groups: Array<[number, number]> = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < views.length; i++) {
    const n = sizes[i]! + 1;
    if (size + n > budget && i > start) {
      groups.push([start, i]);
      start = i;
      size = 0;
    }
    size += n;
  }
  groups.push([start, views.length]);
  const parts = groups.length;
  return groups.map(
    ([a, b], i) => Buffer.from(`${head},"part":${i + 1},"parts":${parts},"instances":[${views.slice(a, b).join(",")}]}`),
  );
}
