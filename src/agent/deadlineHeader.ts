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
const TRACEPARENT_KEY = new TextEncoder().encode("\r\ntraceparent:");
const TRACESTATE_KEY = new TextEncoder().encode("\r\ntracestate:");

/** The trimmed value of the first `Sb-Deadline` header, or undefined without one. */
export function readDeadlineHeader(msg: Msg): string | undefined {
  return readRawHeader(msg, KEY, DEADLINE_HEADER);
}

/** The W3C `traceparent` and `tracestate` headers of a request (exact lower-case names), read the same way. */
export function readTraceHeaders(msg: Msg): { traceparent: string | undefined; tracestate: string | undefined } {
  const traceparent = readRawHeader(msg, TRACEPARENT_KEY, "traceparent");
  return { traceparent, tracestate: traceparent === undefined ? undefined : readRawHeader(msg, TRACESTATE_KEY, "tracestate") };
}

/** Longest header value read (longer ones are cut: no caller needs more, and it bounds the work). */
const MAX_VALUE = 1024;

function readRawHeader(msg: Msg, KEY: Uint8Array, name: string): string | undefined {
  const hdr = rawHeaderLength(msg);
  if (hdr === NO_HEADERS) return undefined;
  if (hdr === HEADERS_UNAVAILABLE) return msg.headers?.get(name)?.slice(0, MAX_VALUE) || undefined;
  const data = rawMessageBytes(msg);
  const last = hdr - KEY.length;
  outer: for (let i = 0; i <= last; i++) {
    if (data[i] !== 13) continue;
    for (let k = 1; k < KEY.length; k++) if (data[i + k] !== KEY[k]) continue outer;
    let value = "";
    const end = Math.min(hdr, i + KEY.length + MAX_VALUE);
    for (let j = i + KEY.length; j < end && data[j] !== 13; j++) value += String.fromCharCode(data[j]!);
    return value.trim() || undefined;
  }
  return undefined;
}
