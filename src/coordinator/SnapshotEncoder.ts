/**
 * Encodes registry snapshots for query replies. A query of 10 000 instances must be answered in a few
 * milliseconds, so each instance's record is serialized once (cached by the state machine until the
 * record changes) and written straight into one preallocated reply buffer; only the liveness fields
 * (state, since, lastSeen, seq, inFlight, status — all ASCII) are formatted per query. A snapshot larger than the
 * server's max_payload is split into parts (`part`/`parts`), each a valid `registry-snapshot` on its own.
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

/** Room left in every part for the NATS headers and reply subject. */
const PART_OVERHEAD = 2048;
const INSTANCE_KEY = Buffer.from('{"instance":');

/** Encodes the instances matching `filter` as one or more `registry-snapshot` bodies of at most `maxBytes` each. */
export function encodeSnapshot(
  sm: RegistryStateMachine,
  filter: RegistryFilter,
  header: SnapshotHeader,
  maxBytes: number,
): Buffer[] {
  const records: string[] = [];
  const sizes: number[] = [];
  const tails: string[] = [];
  sm.forEach(filter, (e: RegistryEntry) => {
    const r = sm.recordJson(e);
    records.push(r);
    sizes.push(sm.recordByteLength(e));
    tails.push(
      `,"state":"${e.state}","since":${e.since},"lastSeen":${e.lastSeen},"seq":${e.seq < 0 ? 0 : e.seq},"inFlight":${e.inFlight},"status":"${e.status}"}`,
    );
  });
  const head = `{"v":1,"revision":${header.revision},"coordinator":${JSON.stringify(header.coordinator)},"leader":${header.leader},"at":${header.at}`;
  const headBytes = Buffer.byteLength(head);
  const budget = Math.max(1024, maxBytes - PART_OVERHEAD);
  // Each view: {"instance": + record + tail, and a comma between views.
  const sizeOf = (i: number) => INSTANCE_KEY.length + sizes[i]! + tails[i]!.length + 1;
  let total = 0;
  for (let i = 0; i < records.length; i++) total += sizeOf(i);
  const single = `,"instances":[`;
  if (headBytes + single.length + total + 2 <= budget) {
    return [writePart(head + single, records, sizes, tails, 0, records.length)];
  }
  // Greedy split: as many instances per part as fit.
  const groups: Array<[number, number]> = [];
  const partHead = headBytes + 64; // `,"part":N,"parts":M,"instances":[` and `]}`
  let start = 0;
  let size = partHead;
  for (let i = 0; i < records.length; i++) {
    const n = sizeOf(i);
    if (size + n > budget && i > start) {
      groups.push([start, i]);
      start = i;
      size = partHead;
    }
    size += n;
  }
  groups.push([start, records.length]);
  const parts = groups.length;
  return groups.map(([a, b], i) => writePart(`${head},"part":${i + 1},"parts":${parts},"instances":[`, records, sizes, tails, a, b));
}

/** One body: `prefix`, then views a..b-1 separated by commas, then `]}`. */
function writePart(prefix: string, records: string[], sizes: number[], tails: string[], a: number, b: number): Buffer {
  let size = Buffer.byteLength(prefix) + 2;
  for (let i = a; i < b; i++) size += INSTANCE_KEY.length + sizes[i]! + tails[i]!.length + (i > a ? 1 : 0);
  const out = Buffer.allocUnsafe(size);
  let o = out.write(prefix, 0, "utf8");
  for (let i = a; i < b; i++) {
    if (i > a) out[o++] = 0x2c; // ,
    o += INSTANCE_KEY.copy(out, o);
    o += out.write(records[i]!, o, "utf8");
    o += out.write(tails[i]!, o, "latin1");
  }
  out[o++] = 0x5d; // ]
  out[o++] = 0x7d; // }
  return out;
}
