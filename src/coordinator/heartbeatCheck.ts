/**
 * The heartbeat schema (schemas/heartbeat.json) as plain code. Heartbeats are the one high-rate input
 * of the coordinator; this check accepts exactly what the compiled ajv validator accepts (a property
 * test holds the two together) at a fraction of the cost. Refused heartbeats go through ajv afterwards
 * only to explain the refusal.
 */
import type { Heartbeat } from "../protocol/index.js";

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The schema's bounds: seq ≤ 2^53 − 1, sentAt ≤ the largest date, inFlight ≤ 1 000 000. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
export const MAX_EPOCH_MS = 8_640_000_000_000_000;
export const MAX_IN_FLIGHT = 1_000_000;

function isCount(v: unknown, max: number): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/** True when `value` is a valid heartbeat body. */
export function isHeartbeat(value: unknown): value is Heartbeat {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  // additionalProperties: false, and every property is required: exactly these seven keys.
  let n = 0;
  for (const k in o) {
    switch (k) {
      case "v":
      case "id":
      case "service":
      case "seq":
      case "sentAt":
      case "inFlight":
      case "status":
        n++;
        break;
      default:
        return false;
    }
  }
  if (n !== 7) return false;
  const status = o.status;
  return (
    o.v === 1 &&
    typeof o.id === "string" &&
    TOKEN.test(o.id) &&
    typeof o.service === "string" &&
    TOKEN.test(o.service) &&
    isCount(o.seq, MAX_SEQ) &&
    isCount(o.sentAt, MAX_EPOCH_MS) &&
    isCount(o.inFlight, MAX_IN_FLIGHT) &&
    (status === "ok" || status === "degraded" || status === "draining")
  );
}
