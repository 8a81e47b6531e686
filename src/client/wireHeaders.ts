/**
 * Request headers built cheaply. Every attempt carries `Sb-Deadline` (absolute epoch ms); building
 * it through nats.js's generic `headers().set()` costs key canonicalisation, validation and string
 * assembly per call. {@link deadlineHeaders} returns a MsgHdrs that writes its wire bytes directly
 * while it holds only the deadline, and defers to nats.js's own headers for anything else.
 */
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { DEADLINE_HEADER } from "../protocol/index.js";
import { encodeHeaders, PUBLISH_ENCODES_HEADERS } from "../protocol/natsInternals.js";

const HEAD = new TextEncoder().encode(`NATS/1.0\r\n${DEADLINE_HEADER}: `);
type Match = Parameters<MsgHdrs["get"]>[1];

/**
 * MsgHdrs holding only the deadline: `encode()` writes the wire bytes directly. Any other use
 * (reading, adding headers, iterating) first turns it into nats.js's own headers object, so every
 * MsgHdrs operation behaves exactly as nats.js defines it. Allocates nothing but itself on the
 * fast path (nats.js's class allocates a Map per instance).
 */
class DeadlineHeaders implements MsgHdrs {
  private real: MsgHdrs | undefined;
  private bytes: Uint8Array | undefined;

  constructor(private readonly deadline: string) {}

  /** True while nothing but the deadline was set: the object (and its bytes) can be shared. */
  get pristine(): boolean {
    return this.real === undefined;
  }

  private generic(): MsgHdrs {
    if (this.real === undefined) {
      this.real = headers();
      this.real.set(DEADLINE_HEADER, this.deadline);
    }
    return this.real;
  }

  /** Wire form, as nats.js's `publish` asks for it. */
  encode(): Uint8Array {
    if (this.real !== undefined) return encodeHeaders(this.real);
    if (this.bytes !== undefined) return this.bytes;
    const d = this.deadline;
    const out = new Uint8Array(HEAD.length + d.length + 4);
    out.set(HEAD, 0);
    let i = HEAD.length;
    for (let k = 0; k < d.length; k++) out[i++] = d.charCodeAt(k);
    out[i++] = 13;
    out[i++] = 10;
    out[i++] = 13;
    out[i] = 10;
    // Never mutated after this: nats.js copies it into its outbound buffer, so sharing is safe.
    this.bytes = out;
    return out;
  }

  get hasError(): boolean {
    return this.generic().hasError;
  }
  get status(): string {
    return this.generic().status;
  }
  get code(): number {
    return this.generic().code;
  }
  get description(): string {
    return this.generic().description;
  }
  get(k: string, match?: Match): string {
    return this.generic().get(k, match);
  }
  set(k: string, v: string, match?: Match): void {
    this.generic().set(k, v, match);
  }
  append(k: string, v: string, match?: Match): void {
    this.generic().append(k, v, match);
  }
  has(k: string, match?: Match): boolean {
    return this.generic().has(k, match);
  }
  keys(): string[] {
    return this.generic().keys();
  }
  values(k: string, match?: Match): string[] {
    return this.generic().values(k, match);
  }
  delete(k: string, match?: Match): void {
    this.generic().delete(k, match);
  }
  last(k: string, match?: Match): string {
    return this.generic().last(k, match);
  }
  [Symbol.iterator](): Iterator<[string, string[]]> {
    return this.generic()[Symbol.iterator]();
  }
  toString(): string {
    return this.generic().toString();
  }
}

let last: DeadlineHeaders | undefined;
let lastMs = -1;

/** Integer epoch ms as header text (a deadline is never in the past by more than a few ms here). */
function deadlineText(deadline: number): string {
  return String(Math.ceil(deadline));
}

/**
 * Headers of one attempt: the deadline, plus `extra` (copied, never mutated, so one object can be
 * passed to many calls). The deadline always wins over an `Sb-Deadline` in `extra`.
 * Without `extra` the result may be shared with other calls of the same millisecond: hand it to
 * `publish` and do not modify it (a modified one is never handed out again).
 */
export function deadlineHeaders(deadline: number, extra?: MsgHdrs | Record<string, string>): MsgHdrs {
  if (extra === undefined && PUBLISH_ENCODES_HEADERS) {
    // Calls started within the same millisecond share a deadline: reuse its headers and bytes.
    const ms = Math.ceil(deadline);
    if (ms === lastMs && last !== undefined && last.pristine) return last;
    last = new DeadlineHeaders(String(ms));
    lastMs = ms;
    return last;
  }
  const text = deadlineText(deadline);
  const h = headers();
  if (extra !== undefined) {
    if (isMsgHdrs(extra)) {
      for (const [k, values] of extra) for (const v of values) h.append(k, v);
    } else {
      for (const [k, v] of Object.entries(extra)) h.append(k, String(v));
    }
  }
  h.set(DEADLINE_HEADER, text);
  return h;
}

function isMsgHdrs(x: MsgHdrs | Record<string, string>): x is MsgHdrs {
  return typeof (x as MsgHdrs).get === "function" && typeof (x as MsgHdrs).keys === "function";
}
