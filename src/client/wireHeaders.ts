/**
 * Request headers built cheaply. Every attempt carries `Sb-Deadline` (absolute epoch ms), and
 * `Sb-Codec` when the body is not JSON; building them through nats.js's generic `headers().set()`
 * costs key canonicalisation, validation and string assembly per call. {@link deadlineHeaders}
 * returns a MsgHdrs that writes its wire bytes directly while it holds only those two, and defers to
 * nats.js's own headers for anything else.
 */
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { CODEC_HEADER, DEADLINE_HEADER } from "../protocol/index.js";
import { encodeHeaders, PUBLISH_ENCODES_HEADERS } from "../protocol/natsInternals.js";

const HEAD = new TextEncoder().encode(`NATS/1.0\r\n${DEADLINE_HEADER}: `);
const CODEC_LINE = `\r\n${CODEC_HEADER}: `;
type Match = Parameters<MsgHdrs["get"]>[1];

/**
 * MsgHdrs holding only the deadline (and the codec): `encode()` writes the wire bytes directly. Any
 * other use (reading, adding headers, iterating) first turns it into nats.js's own headers object,
 * so every MsgHdrs operation behaves exactly as nats.js defines it. Allocates nothing but itself on
 * the fast path (nats.js's class allocates a Map per instance).
 */
class DeadlineHeaders implements MsgHdrs {
  private real: MsgHdrs | undefined;
  private bytes: Uint8Array | undefined;

  constructor(
    private readonly deadline: string,
    private readonly codec: string | undefined,
  ) {}

  /** True while nothing but the deadline (and codec) was set: the object (and its bytes) can be shared. */
  get pristine(): boolean {
    return this.real === undefined;
  }

  private generic(): MsgHdrs {
    if (this.real === undefined) {
      this.real = headers();
      this.real.set(DEADLINE_HEADER, this.deadline);
      if (this.codec !== undefined) this.real.set(CODEC_HEADER, this.codec);
    }
    return this.real;
  }

  /** Wire form, as nats.js's `publish` asks for it. */
  encode(): Uint8Array {
    if (this.real !== undefined) return encodeHeaders(this.real);
    if (this.bytes !== undefined) return this.bytes;
    // Codec names are ASCII (validated), deadlines are digits: one byte per character.
    const tail = this.codec === undefined ? this.deadline : this.deadline + CODEC_LINE + this.codec;
    const out = new Uint8Array(HEAD.length + tail.length + 4);
    out.set(HEAD, 0);
    let i = HEAD.length;
    for (let k = 0; k < tail.length; k++) out[i++] = tail.charCodeAt(k);
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

/** The last headers handed out per codec ("" for json), reused by calls of the same millisecond. */
const lastByCodec = new Map<string, DeadlineHeaders>();
const lastMsByCodec = new Map<string, number>();
let lastJson: DeadlineHeaders | undefined;
let lastJsonMs = -1;

/**
 * Headers of one attempt: the deadline, the codec (undefined: json, no header), plus `extra`
 * (copied, never mutated, so one object can be passed to many calls). The deadline and the codec
 * always win over the same headers in `extra`.
 * Without `extra` the result may be shared with other calls of the same millisecond: hand it to
 * `publish` and do not modify it (a modified one is never handed out again).
 */
export function deadlineHeaders(deadline: number, extra?: MsgHdrs | Record<string, string>, codec?: string): MsgHdrs {
  const ms = Math.ceil(deadline);
  if (extra === undefined && PUBLISH_ENCODES_HEADERS) {
    // Calls started within the same millisecond share a deadline: reuse its headers and bytes.
    if (codec === undefined) {
      if (ms === lastJsonMs && lastJson !== undefined && lastJson.pristine) return lastJson;
      lastJson = new DeadlineHeaders(String(ms), undefined);
      lastJsonMs = ms;
      return lastJson;
    }
    const last = lastByCodec.get(codec);
    if (last !== undefined && lastMsByCodec.get(codec) === ms && last.pristine) return last;
    const h = new DeadlineHeaders(String(ms), codec);
    // Bounded: one entry per codec name in use (a handful).
    if (lastByCodec.size < 64 || lastByCodec.has(codec)) {
      lastByCodec.set(codec, h);
      lastMsByCodec.set(codec, ms);
    }
    return h;
  }
  const h = headers();
  if (extra !== undefined) {
    if (isMsgHdrs(extra)) {
      for (const [k, values] of extra) for (const v of values) h.append(k, v);
    } else {
      for (const [k, v] of Object.entries(extra)) h.append(k, String(v));
    }
  }
  h.set(DEADLINE_HEADER, String(ms));
  if (codec !== undefined) h.set(CODEC_HEADER, codec);
  else if (h.has(CODEC_HEADER)) h.delete(CODEC_HEADER);
  return h;
}

function isMsgHdrs(x: MsgHdrs | Record<string, string>): x is MsgHdrs {
  return typeof (x as MsgHdrs).get === "function" && typeof (x as MsgHdrs).keys === "function";
}
