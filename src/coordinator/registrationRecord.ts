/**
 * The registry record of a registration without an agent (the seed's `register`): the id is derived
 * from name and address, so every coordinator and every re-registration agree on it.
 */
import type { InstanceRecord, Register } from "../protocol/index.js";
import { registrationId } from "./names.js";

/** Longest heartbeat interval a registration's record can state (the schema's limit); its TTL may be longer. */
const MAX_RECORD_INTERVAL = 3_600_000;

/** A registration as the registry holds it. */
export interface Registration {
  record: InstanceRecord;
  ttlMs: number;
}

/** The record and TTL of a `register` request received at `now`. */
export function registrationRecord(r: Register, now: number, defaultTtlMs: number): Registration {
  const ttlMs = r.ttlMs ?? defaultTtlMs;
  const record: InstanceRecord = {
    id: registrationId(r.serviceName, r.serviceAddress),
    service: r.serviceName,
    version: r.version ?? "0.0.0",
    endpoints: [],
    heartbeatMs: Math.min(ttlMs, MAX_RECORD_INTERVAL),
    startedAt: now,
    address: r.serviceAddress,
  };
  if (r.metadata) record.metadata = r.metadata;
  if (r.tags) record.tags = r.tags;
  return { record, ttlMs };
}
