/**
 * Reads heartbeats without JSON.parse when they have the exact layout Switchboard's agent writes
 * (`JSON.stringify` of {v, id, service, seq, sentAt, inFlight, status}, no whitespace). That layout is
 * checked byte by byte, values included, so whatever this fast path accepts is a heartbeat that the
 * schema accepts too, with the same values (a property test holds it to that). Anything else — another
 * key order, whitespace, escapes, exotic numbers — returns false and takes the general path
 * (JSON.parse + {@link isHeartbeat}), so other implementations lose speed, never correctness.
 * Why: heartbeats are the coordinator's one high-rate input, and this avoids decoding the body to a
 * string and building an object per message; only the two short names become strings.
 */
import { MAX_IN_FLIGHT } from "./heartbeatCheck.js";
import type { HealthStatus } from "./types.js";

/** The fields of a heartbeat; one object is reused for every message. */
export interface HeartbeatFields {
  service: string;
  id: string;
  seq: number;
  sentAt: number;
  inFlight: number;
  status: HealthStatus;
  /** Byte offsets of service and id in the body (fast path only; -1 otherwise), to compare with the subject without strings. */
  serviceStart: number;
  serviceEnd: number;
  idStart: number;
  idEnd: number;
}

/** A fresh fields object (allocate once, reuse). */
export function heartbeatFields(): HeartbeatFields {
  return { service: "", id: "", seq: 0, sentAt: 0, inFlight: 0, status: "ok", serviceStart: -1, serviceEnd: -1, idStart: -1, idEnd: -1 };
}

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const OPEN = bytes('{"v":1,"id":"');
const SERVICE = bytes('","service":"');
const SEQ = bytes('","seq":');
const SENT_AT = bytes(',"sentAt":');
const IN_FLIGHT = bytes(',"inFlight":');
const STATUS = bytes(',"status":"');
const DEGRADED = bytes("degraded");
const DRAINING = bytes("draining");
const QUOTE = 0x22;
const BRACE = 0x7d;

function matches(data: Uint8Array, pos: number, lit: Uint8Array): boolean {
  if (pos + lit.length > data.length) return false;
  for (let i = 0; i < lit.length; i++) if (data[pos + i] !== lit[i]) return false;
  return true;
}

/** End (index of the closing quote) of a subject token starting at `pos`, or -1: [A-Za-z0-9_-]{1,64}. */
function tokenEnd(data: Uint8Array, pos: number): number {
  const limit = Math.min(data.length, pos + 65);
  for (let i = pos; i < limit; i++) {
    const c = data[i]!;
    if (c === QUOTE) return i > pos ? i : -1;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d)) return -1;
  }
  return -1;
}

let numberEnd = 0;
/** A non-negative integer in plain digits (no sign, fraction, exponent or leading zero), at most 15 digits; -1 if not. Sets `numberEnd`. */
function readCount(data: Uint8Array, pos: number): number {
  let i = pos;
  let v = 0;
  while (i < data.length && i - pos < 16) {
    const c = data[i]!;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    i++;
  }
  const n = i - pos;
  if (n === 0 || n > 15 || (n > 1 && data[pos] === 0x30)) return -1;
  numberEnd = i;
  return v;
}

/** Node's Buffer has an undocumented but long-standing latin1Slice: the cheapest bytes → string for ASCII. */
type Latin1 = { latin1Slice?: (start: number, end: number) => string };

function ascii(data: Uint8Array, start: number, end: number): string {
  const slice = (data as Latin1).latin1Slice;
  return slice ? slice.call(data, start, end) : String.fromCharCode(...data.subarray(start, end));
}

/**
 * Parses a heartbeat in the agent's exact layout into `out`. False when the body has any other shape
 * (which does not mean it is invalid: use the general path then).
 */
export function parseCanonicalHeartbeat(data: Uint8Array, out: HeartbeatFields): boolean {
  if (!matches(data, 0, OPEN)) return false;
  const idStart = OPEN.length;
  const idEnd = tokenEnd(data, idStart);
  if (idEnd < 0 || !matches(data, idEnd, SERVICE)) return false;
  const serviceStart = idEnd + SERVICE.length;
  const serviceEnd = tokenEnd(data, serviceStart);
  if (serviceEnd < 0 || !matches(data, serviceEnd, SEQ)) return false;
  const seq = readCount(data, serviceEnd + SEQ.length);
  if (seq < 0 || !matches(data, numberEnd, SENT_AT)) return false;
  const sentAt = readCount(data, numberEnd + SENT_AT.length);
  if (sentAt < 0 || !matches(data, numberEnd, IN_FLIGHT)) return false;
  const inFlight = readCount(data, numberEnd + IN_FLIGHT.length);
  // 15 digits stay below the bounds of seq and sentAt; inFlight's is lower (the general path refuses it).
  if (inFlight < 0 || inFlight > MAX_IN_FLIGHT || !matches(data, numberEnd, STATUS)) return false;
  const s = numberEnd + STATUS.length;
  let status: HealthStatus;
  let end: number;
  // "ok" | "degraded" | "draining", then `"}` and nothing after.
  if (data[s] === 0x6f && data[s + 1] === 0x6b) {
    status = "ok";
    end = s + 2;
  } else if (data[s] === 0x64 && data[s + 1] === 0x65 && matches(data, s, DEGRADED)) {
    status = "degraded";
    end = s + DEGRADED.length;
  } else if (data[s] === 0x64 && data[s + 1] === 0x72 && matches(data, s, DRAINING)) {
    status = "draining";
    end = s + DRAINING.length;
  } else return false;
  if (end + 2 !== data.length || data[end] !== QUOTE || data[end + 1] !== BRACE) return false;
  out.id = ascii(data, idStart, idEnd);
  out.service = ascii(data, serviceStart, serviceEnd);
  out.seq = seq;
  out.sentAt = sentAt;
  out.inFlight = inFlight;
  out.status = status;
  out.idStart = idStart;
  out.idEnd = idEnd;
  out.serviceStart = serviceStart;
  out.serviceEnd = serviceEnd;
  return true;
}
