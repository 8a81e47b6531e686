/**
 * Reads a request's `Sb-Deadline`, `Sb-Codec`, `traceparent` and `tracestate` headers without
 * decoding all of its headers. nats.js decodes a message's headers on the first access to
 * `msg.headers` (text decoding, line splitting, key canonicalisation, a Map); for a small request that
 * costs more than the rest of serving it, and every balanced call carries a deadline. When nats.js
 * exposes the raw header bytes (`protocol/natsInternals.ts`) one pass over them finds every key (the
 * same exact-case match `headers.get` does); otherwise the values come from `msg.headers`.
 */
import type { Msg } from "@nats-io/transport-node";
import { CODEC_HEADER, DEADLINE_HEADER } from "../protocol/index.js";
import { HEADERS_UNAVAILABLE, NO_HEADERS, rawHeaderLength, rawMessageBytes } from "../protocol/natsInternals.js";

const key = (name: string) => new TextEncoder().encode(`\r\n${name}:`);
const DEADLINE_KEY = key(DEADLINE_HEADER);
const CODEC_KEY = key(CODEC_HEADER);
const TRACEPARENT_KEY = key("traceparent");
const TRACESTATE_KEY = key("tracestate");

/** Longest header value read (longer ones are cut: no caller needs more, and it bounds the work). */
const MAX_VALUE = 1024;

/** The headers the agent reads on every request (trimmed values; undefined when absent or empty). */
export interface RequestHeaders {
  deadline: string | undefined;
  codec: string | undefined;
  /** W3C trace context (exact lower-case names). */
  traceparent: string | undefined;
  tracestate: string | undefined;
}

/** A fresh, empty {@link RequestHeaders}. */
export function requestHeaders(): RequestHeaders {
  return { deadline: undefined, codec: undefined, traceparent: undefined, tracestate: undefined };
}

/**
 * Fills `out` with the request's headers (the first of each) and returns it. Pass a reused object
 * on the hot path: nothing else is allocated unless a header is present.
 */
export function readRequestHeaders(msg: Msg, out: RequestHeaders): RequestHeaders {
  out.deadline = undefined;
  out.codec = undefined;
  out.traceparent = undefined;
  out.tracestate = undefined;
  const hdr = rawHeaderLength(msg);
  if (hdr === NO_HEADERS) return out;
  if (hdr === HEADERS_UNAVAILABLE) {
    const h = msg.headers;
    if (h === undefined) return out;
    out.deadline = bounded(h.get(DEADLINE_HEADER));
    out.codec = bounded(h.get(CODEC_HEADER));
    out.traceparent = bounded(h.get("traceparent"));
    if (out.traceparent !== undefined) out.tracestate = bounded(h.get("tracestate"));
    return out;
  }
  const data = rawMessageBytes(msg);
  for (let i = 0; i < hdr; i++) {
    // Every header line starts after CR LF; the keys start with "Sb-" or "tr".
    if (data[i] !== 13) continue;
    const c = data[i + 2];
    if (c === 83 /* S */) {
      if (data[i + 3] !== 98 || data[i + 4] !== 45) continue;
      if (out.deadline === undefined && matches(data, i, hdr, DEADLINE_KEY)) out.deadline = valueAt(data, i + DEADLINE_KEY.length, hdr);
      else if (out.codec === undefined && matches(data, i, hdr, CODEC_KEY)) out.codec = valueAt(data, i + CODEC_KEY.length, hdr);
    } else if (c === 116 /* t */) {
      if (out.traceparent === undefined && matches(data, i, hdr, TRACEPARENT_KEY)) out.traceparent = valueAt(data, i + TRACEPARENT_KEY.length, hdr);
      else if (out.tracestate === undefined && matches(data, i, hdr, TRACESTATE_KEY)) out.tracestate = valueAt(data, i + TRACESTATE_KEY.length, hdr);
    }
  }
  if (out.traceparent === undefined) out.tracestate = undefined;
  return out;
}

function bounded(value: string): string | undefined {
  return value.slice(0, MAX_VALUE).trim() || undefined;
}

function matches(data: Uint8Array, at: number, end: number, k: Uint8Array): boolean {
  if (at + k.length > end) return false;
  for (let j = 1; j < k.length; j++) if (data[at + j] !== k[j]) return false;
  return true;
}

function valueAt(data: Uint8Array, from: number, hdr: number): string | undefined {
  let value = "";
  const end = Math.min(hdr, from + MAX_VALUE);
  for (let j = from; j < end && data[j] !== 13; j++) value += String.fromCharCode(data[j]!);
  return value.trim() || undefined;
}

/** The trimmed value of the first `Sb-Deadline` header, or undefined without one. */
export function readDeadlineHeader(msg: Msg): string | undefined {
  return readRequestHeaders(msg, requestHeaders()).deadline;
}
