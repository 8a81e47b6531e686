/**
 * Every read of nats.js private state, in one place. The call path and the heartbeat ingest read a
 * few fields of nats.js v3's message and connection objects (raw subject bytes, raw header bytes,
 * the connection's inbox prefix) and rely on `publish` serialising headers through `encode()`: each
 * saves decoding or building something per message. Every accessor here has a fallback that uses
 * only the public API, so a nats.js release that changes these internals makes the code slower, not
 * wrong — and `test/integration/nats-internals.test.ts` fails, so the change is noticed.
 *
 * Shapes relied on (nats.js v3 `MsgImpl`, `NatsConnectionImpl`, `MsgHdrsImpl`):
 * - `msg._msg.subject: Uint8Array` — the subject as received;
 * - `msg._msg.hdr: number` — length of the header block at the start of `msg._rdata`, or -1;
 * - `msg._rdata: Uint8Array` — header block followed by the body;
 * - `msg._headers` — set once `msg.headers` has decoded the block;
 * - `nc.options.inboxPrefix` — the connection's inbox prefix option;
 * - `publish(…, { headers })` calls `headers.encode()` for the wire bytes.
 */
import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";

/** The parts of nats.js v3's `MsgImpl` read here. */
interface MsgInternals {
  _msg?: { subject?: unknown; hdr?: unknown };
  _rdata?: unknown;
  _headers?: unknown;
}

/** The subject of `msg` as the bytes received, or undefined (then use `msg.subject`). Never copies. */
export function rawSubject(msg: Msg): Uint8Array | undefined {
  const raw = (msg as unknown as MsgInternals)._msg?.subject;
  return raw instanceof Uint8Array ? raw : undefined;
}

/** {@link rawHeaderLength}: the message has no headers. */
export const NO_HEADERS = -1;
/** {@link rawHeaderLength}: the raw bytes are not available; read `msg.headers`. */
export const HEADERS_UNAVAILABLE = -2;

/**
 * Length of the raw header block at the start of {@link rawMessageBytes}: ≥ 0, {@link NO_HEADERS},
 * or {@link HEADERS_UNAVAILABLE} (not a nats.js v3 message, or its headers were already decoded —
 * then `msg.headers` is as cheap and is the truth).
 */
export function rawHeaderLength(msg: Msg): number {
  const raw = msg as unknown as MsgInternals;
  const hdr = raw._msg?.hdr;
  const data = raw._rdata;
  if (typeof hdr !== "number" || raw._headers !== undefined) return HEADERS_UNAVAILABLE;
  if (hdr < 0) return NO_HEADERS;
  if (!(data instanceof Uint8Array) || hdr > data.length) return HEADERS_UNAVAILABLE;
  return hdr;
}

/** The raw bytes of `msg` (header block, then body); call only after {@link rawHeaderLength} returned ≥ 0. */
export function rawMessageBytes(msg: Msg): Uint8Array {
  return (msg as unknown as MsgInternals)._rdata as Uint8Array;
}

/** The connection's `inboxPrefix` option (NATS permissions are often written against it), if any. */
export function inboxPrefixOf(nc: NatsConnection): string | undefined {
  const p = (nc as unknown as { options?: { inboxPrefix?: unknown } }).options?.inboxPrefix;
  return typeof p === "string" && p !== "" ? p : undefined;
}

/** A MsgHdrs that can give its wire bytes, as nats.js v3's `MsgHdrsImpl` does. */
export type EncodableHeaders = MsgHdrs & { encode(): Uint8Array };

/**
 * Whether nats.js's `publish` takes header wire bytes from `headers.encode()` (nats.js v3): then a
 * MsgHdrs of our own that writes its bytes directly may be passed to `publish`. Otherwise build
 * headers with nats.js's `headers()`.
 */
export const PUBLISH_ENCODES_HEADERS: boolean = typeof (headers() as Partial<EncodableHeaders>).encode === "function";

/** The wire bytes of a nats.js headers object (`encode()`), for a MsgHdrs that delegates to one. */
export function encodeHeaders(h: MsgHdrs): Uint8Array {
  return (h as EncodableHeaders).encode();
}
