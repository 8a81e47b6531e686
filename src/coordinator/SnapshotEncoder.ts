/**
 * Encodes registry snapshots for query replies. A query of 10 000 instances must be answered in a few
 * milliseconds, so nothing is built per instance: each record is serialized once (cached by the state
 * machine until the record changes), sizes are computed first, and every view is written straight into
 * one preallocated buffer per reply — the record's cached JSON, then the liveness fields (state, since,
 * lastSeen, seq, inFlight, status) as ASCII digits and constants. A snapshot larger than the server's
 * max_payload is split into parts (`part`/`parts`), each a valid `registry-snapshot` on its own.
 */
import type { RegistryStateMachine } from "./RegistryStateMachine.js";
import type { RegistryEntry, RegistryFilter } from "./types.js";

/** The header fields of a snapshot. */
export interface SnapshotHeader {
  revision: number;
  coordinator: string;
  leader: boolean;
  /** Term of the leader whose events the snapshot includes (0: none known). */
  term: number;
  /** That leader's id, when known. */
  leaderId?: string;
  at: number;
}

/** Room left in every part for the NATS headers and reply subject. */
const PART_OVERHEAD = 2048;

const ascii = (s: string) => Buffer.from(s, "latin1");
const OPEN = ascii('{"instance":');
const STATE = ascii(',"state":"');
const SINCE = ascii('","since":');
const LAST_SEEN = ascii(',"lastSeen":');
const SEQ = ascii(',"seq":');
const IN_FLIGHT = ascii(',"inFlight":');
const STATUS = ascii(',"status":"');
const CLOSE = ascii('"}');
/** Bytes of a view besides the record, the names of state and status, and the numbers. */
const FIXED = OPEN.length + STATE.length + SINCE.length + LAST_SEEN.length + SEQ.length + IN_FLIGHT.length + STATUS.length + CLOSE.length;
const NAMES: Record<string, Buffer> = {
  up: ascii("up"),
  suspect: ascii("suspect"),
  down: ascii("down"),
  removed: ascii("removed"),
  ok: ascii("ok"),
  degraded: ascii("degraded"),
  draining: ascii("draining"),
};

/** Undocumented but long-standing Buffer methods (Buffer#write calls them after juggling its arguments). */
interface RawWrites {
  utf8Write?: (s: string, offset: number) => number;
}

const POW10 = Array.from({ length: 22 }, (_, i) => 10 ** i);

/** Characters of a number as JSON writes it (digits only for the non-negative integers of a view). */
function numberLength(n: number): number {
  if (Number.isInteger(n) && n >= 0 && n < 1e21) {
    if (n >= 1e12 && n < 1e13) return 13; // epoch milliseconds, the common case
    let len = 1;
    while (n >= POW10[len]!) len++;
    return len;
  }
  return String(n).length;
}

/** Writes a number at `o` as JSON would, returns the new offset. */
function writeNumber(out: Buffer, o: number, n: number, len: number): number {
  if (!(Number.isInteger(n) && n >= 0 && n < 1e21)) return o + out.write(String(n), o, "latin1");
  let i = o + len - 1;
  let x = n;
  // Above 2^31 use float division down to a small-integer remainder, then 32-bit arithmetic.
  while (x > 0x7fffffff) {
    const q = Math.floor(x / 10);
    out[i--] = 0x30 + (x - q * 10);
    x = q;
  }
  let s = x | 0;
  do {
    const q = (s / 10) | 0;
    out[i--] = 0x30 + (s - q * 10);
    s = q;
  } while (i >= o);
  return o + len;
}

function put(out: Buffer, o: number, b: Buffer): number {
  for (let i = 0; i < b.length; i++) out[o + i] = b[i]!;
  return o + b.length;
}

/** Encodes the instances matching `filter` as one or more `registry-snapshot` bodies of at most `maxBytes` each. */
export function encodeSnapshot(
  sm: RegistryStateMachine,
  filter: RegistryFilter,
  header: SnapshotHeader,
  maxBytes: number,
): Buffer[] {
  const entries: RegistryEntry[] = [];
  const sizes: number[] = [];
  let total = 0;
  sm.forEach(filter, (e: RegistryEntry) => {
    const size =
      FIXED +
      sm.recordByteLength(e) +
      NAMES[e.state]!.length +
      numberLength(e.since) +
      numberLength(e.lastSeen) +
      numberLength(e.seq < 0 ? 0 : e.seq) +
      numberLength(e.inFlight) +
      NAMES[e.status]!.length;
    entries.push(e);
    sizes.push(size);
    total += size + 1;
  });
  const leaderId = header.leaderId === undefined ? "" : `,"leaderId":${JSON.stringify(header.leaderId)}`;
  const head = `{"v":1,"revision":${header.revision},"coordinator":${JSON.stringify(header.coordinator)},"leader":${header.leader},"term":${header.term}${leaderId},"at":${header.at}`;
  const headBytes = Buffer.byteLength(head);
  const budget = Math.max(1024, maxBytes - PART_OVERHEAD);
  const single = `,"instances":[`;
  if (headBytes + single.length + total + 2 <= budget) {
    return [writePart(sm, head + single, entries, sizes, 0, entries.length)];
  }
  // Greedy split: as many instances per part as fit.
  const groups: Array<[number, number]> = [];
  const partHead = headBytes + 64; // `,"part":N,"parts":M,"instances":[` and `]}`
  let start = 0;
  let size = partHead;
  for (let i = 0; i < entries.length; i++) {
    const n = sizes[i]! + 1;
    if (size + n > budget && i > start) {
      groups.push([start, i]);
      start = i;
      size = partHead;
    }
    size += n;
  }
  groups.push([start, entries.length]);
  const parts = groups.length;
  return groups.map(([a, b], i) => writePart(sm, `${head},"part":${i + 1},"parts":${parts},"instances":[`, entries, sizes, a, b));
}

/** One body: `prefix`, then views a..b-1 separated by commas, then `]}`. */
function writePart(sm: RegistryStateMachine, prefix: string, entries: RegistryEntry[], sizes: number[], a: number, b: number): Buffer {
  let size = Buffer.byteLength(prefix) + 2;
  for (let i = a; i < b; i++) size += sizes[i]! + (i > a ? 1 : 0);
  const out = Buffer.allocUnsafe(size) as Buffer & RawWrites;
  const utf8 = out.utf8Write ? (s: string, at: number) => out.utf8Write!(s, at) : (s: string, at: number) => out.write(s, at, "utf8");
  let o = utf8(prefix, 0);
  for (let i = a; i < b; i++) {
    const e = entries[i]!;
    if (i > a) out[o++] = 0x2c; // ,
    o = put(out, o, OPEN);
    o += utf8(sm.recordJson(e), o);
    o = put(out, o, STATE);
    o = put(out, o, NAMES[e.state]!);
    o = put(out, o, SINCE);
    o = writeNumber(out, o, e.since, numberLength(e.since));
    o = put(out, o, LAST_SEEN);
    o = writeNumber(out, o, e.lastSeen, numberLength(e.lastSeen));
    o = put(out, o, SEQ);
    const seq = e.seq < 0 ? 0 : e.seq;
    o = writeNumber(out, o, seq, numberLength(seq));
    o = put(out, o, IN_FLIGHT);
    o = writeNumber(out, o, e.inFlight, numberLength(e.inFlight));
    o = put(out, o, STATUS);
    o = put(out, o, NAMES[e.status]!);
    o = put(out, o, CLOSE);
  }
  out[o++] = 0x5d; // ]
  out[o++] = 0x7d; // }
  return o === out.length ? out : out.subarray(0, o);
}
