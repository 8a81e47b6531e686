/**
 * Reads a request's `Sb-Deadline` header without decoding all of its headers. nats.js decodes a
 * message's headers on the first access to `msg.headers` (text decoding, line splitting, key
 * canonicalisation, a Map); for a small request that costs more than the rest of serving it, and
 * every balanced call carries a deadline. When nats.js exposes the raw header bytes
 * (`protocol/natsInternals.ts`) they are scanned for the exact header key (the same exact-case match
 * `headers.get` does); otherwise the value comes from `msg.headers`.
 */
import type { Msg } from "@nats-io/transport-node";
import { DEADLINE_HEADER } from "../protocol/index.js";
import { HEADERS_UNAVAILABLE, NO_HEADERS, rawHeaderLength, rawMessageBytes } from "../protocol/natsInternals.js";

const KEY = new TextEncoder().encode(`\r\n${DEADLINE_HEADER}:`);

/** The trimmed value of the first `Sb-Deadline` header, or undefined without one. */
export function readDeadlineHeader(msg: Msg): string | undefined {
  const hdr = rawHeaderLength(msg);
  if (hdr === NO_HEADERS) return undefined;
  if (hdr === HEADERS_UNAVAILABLE) return msg.headers?.get(DEADLINE_HEADER) || undefined;
  const data = rawMessageBytes(msg);
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
