/**
 * The registry record of a registration without an agent (the seed's `register`): the id is derived
 * from name and address, so every coordinator and every re-registration agree on it.
 */
import type { InstanceRecord, Register } from "../protocol/index.js";
import { registrationId } from "./names.js";

/** Longest heartbeat interval a registration's record can state (the schema's limit); its TTL may be longer. */
const MAX_RECORD_INTERVAL = 3_600_000;

/**
 * TTL of a registration that names none: 2^52 ms (about 142 000 years), i.e. it stays until it is
 * deregistered. A finite number keeps the registry's deadline arithmetic and the persisted record plain.
 */
export const DURABLE_TTL_MS = 2 ** 52;

/** A registration as the registry holds it. */
export interface Registration {
  record: InstanceRecord;
  /**
   * TTL of the registration; undefined for a health-checked one, which lives like an agent (its passed
   * checks are its heartbeats, `heartbeatMs` is the check interval).
   */
  ttlMs: number | undefined;
}

/**
 * The record and TTL of a `register` request received at `now`. `startedAt` is the first registration's
 * (pass it), so re-registering is idempotent. Without `ttlMs` and `healthCheck` the TTL is `defaultTtlMs`,
 * or durable when that is undefined.
 */
export function registrationRecord(r: Register, now: number, defaultTtlMs: number | undefined, startedAt = now): Registration {
  const ttlMs = r.healthCheck ? undefined : (r.ttlMs ?? defaultTtlMs ?? DURABLE_TTL_MS);
  const record: InstanceRecord = {
    id: registrationId(r.serviceName, r.serviceAddress),
    service: r.serviceName,
    version: r.version ?? "0.0.0",
    endpoints: r.endpoints ?? [],
    heartbeatMs: r.healthCheck ? r.healthCheck.intervalMs : Math.min(ttlMs!, MAX_RECORD_INTERVAL),
    startedAt,
    address: r.serviceAddress,
  };
  if (r.metadata) record.metadata = r.metadata;
  if (r.tags) record.tags = r.tags;
  if (r.weight !== undefined) record.weight = r.weight;
  if (r.healthCheck) record.healthCheck = r.healthCheck;
  return { record, ttlMs };
}
