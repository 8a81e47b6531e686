/**
 * Reads a request's `Sb-Deadline` header without decoding all of its headers. nats.js decodes a
 * message's headers on the first access to `msg.headers` (text decoding, line splitting, key
 * canonicalisation, a Map); for a small request that costs more than the rest of serving it, and
 * every balanced call carries a deadline. On nats.js v3 message objects the raw header bytes are
 * scanned for the exact header key (the same exact-case match `headers.get` does); any other
 * message object goes through `msg.headers`.
 */
import type { Msg } from "@nats-io/transport-node";
import { DEADLINE_HEADER } from "../protocol/index.js";

const KEY = new TextEncoder().encode(`\r\n${DEADLINE_HEADER}:`);

/** The shape of nats.js v3's MsgImpl that the fast path relies on. */
interface RawMsg {
  _msg?: { hdr?: unknown };
  _rdata?: unknown;
  _headers?: unknown;
}

/** The trimmed value of the first `Sb-Deadline` header, or undefined without one. */
export function readDeadlineHeader(msg: Msg): string | undefined {
  const raw = msg as unknown as RawMsg;
  const hdr = raw._msg?.hdr;
  const data = raw._rdata;
  if (typeof hdr !== "number" || !(data instanceof Uint8Array) || raw._headers !== undefined || hdr > data.length) {
    return msg.headers?.get(DEADLINE_HEADER) || undefined;
  }
  if (hdr < 0) return undefined; // no headers at all
  const last = hdr - KEY.length;
  outer: for (let i = 0; i <= last; i++) {
    if (data[i] !== 13) continue;
    for (let k = 1; k < KEY.length; k++) if (data[i + k] !== KEY[k]) continue outer;
    let value = "";
    for (let j = i + KEY.length; j < hdr && data[j] !== 13; j++) value += String.fromCharCode(data[j]!);
    return value.trim() || undefined;
  }
  return undefined;
}
