/**
 * Limits of the registry: what one announce or registration may hold, and how many instances the
 * registry keeps, so that a flood of announces (or one buggy fleet) cannot grow a coordinator — and
 * every client cache, which holds what the leader publishes — without bound. The defaults are sized
 * for 100 000 instances with room to spare. Pure: the coordinator asks before it feeds the registry.
 */
import type { InstanceRecord } from "../protocol/index.js";

/** Limits of the registry (every field optional; see {@link DEFAULT_REGISTRY_LIMITS}). */
export interface RegistryLimitsOptions {
  /** Instances in the registry, all services (default 120 000). */
  maxInstances?: number;
  /** Instances of one service (default 20 000). */
  maxInstancesPerService?: number;
  /** Size of one instance record as JSON, bytes (default 8 192). */
  maxRecordBytes?: number;
  /** Endpoints of one instance (default 128). */
  maxEndpoints?: number;
  /** Metadata entries of one instance (default 32). */
  maxMetadataEntries?: number;
  /** Shortest heartbeat interval an agent may announce, ms (default 50). */
  minHeartbeatMs?: number;
  /** Longest heartbeat interval an agent may announce, ms (default 60 000): a dead instance of a longer one would stay for hours. */
  maxHeartbeatMs?: number;
}

/** The defaults: 120 000 instances of at most 8 KiB (typical records are 200–500 bytes: ~60 MB for 100 000). */
export const DEFAULT_REGISTRY_LIMITS: Required<RegistryLimitsOptions> = Object.freeze({
  maxInstances: 120_000,
  maxInstancesPerService: 20_000,
  maxRecordBytes: 8192,
  maxEndpoints: 128,
  maxMetadataEntries: 32,
  minHeartbeatMs: 50,
  maxHeartbeatMs: 60_000,
});

/** Which limit a record exceeds. */
export type RegistryLimitName = keyof RegistryLimitsOptions;

/** A refusal: the limit, and a message for logs and error replies. */
export interface LimitExceeded {
  limit: RegistryLimitName;
  message: string;
}

/** What the limits need to know about the registry. */
export interface RegistryCounts {
  readonly size: number;
  /** Instances of `service` now. */
  serviceSize(service: string): number;
  /** True when the instance is already in the registry (an update never counts against the instance limits). */
  has(service: string, id: string): boolean;
}

/** Checks records against the limits. */
export class RegistryLimits {
  readonly values: Required<RegistryLimitsOptions>;

  constructor(opts: RegistryLimitsOptions = {}) {
    const v = { ...DEFAULT_REGISTRY_LIMITS };
    for (const [k, x] of Object.entries(opts) as Array<[RegistryLimitName, number | undefined]>) if (x !== undefined) v[k] = x;
    for (const [k, x] of Object.entries(v)) if (!(Number.isSafeInteger(x) && x >= 0)) throw new RangeError(`${k} must be a non-negative integer, got ${x}`);
    if (v.minHeartbeatMs > v.maxHeartbeatMs) throw new RangeError(`minHeartbeatMs (${v.minHeartbeatMs}) exceeds maxHeartbeatMs (${v.maxHeartbeatMs})`);
    this.values = v;
  }

  /**
   * Null when `record` may enter (or update) the registry; otherwise the first limit it exceeds.
   * `agent`: announced by an agent (heartbeat interval limits apply; registrations have a TTL instead).
   */
  check(record: InstanceRecord, counts: RegistryCounts, agent: boolean): LimitExceeded | null {
    const v = this.values;
    const who = `${record.service}/${record.id}`;
    if (agent && record.heartbeatMs < v.minHeartbeatMs) {
      return { limit: "minHeartbeatMs", message: `${who}: heartbeatMs ${record.heartbeatMs} is below the minimum of ${v.minHeartbeatMs}` };
    }
    if (agent && record.heartbeatMs > v.maxHeartbeatMs) {
      return { limit: "maxHeartbeatMs", message: `${who}: heartbeatMs ${record.heartbeatMs} is above the maximum of ${v.maxHeartbeatMs}` };
    }
    if (record.endpoints.length > v.maxEndpoints) {
      return { limit: "maxEndpoints", message: `${who}: ${record.endpoints.length} endpoints exceed the limit of ${v.maxEndpoints}` };
    }
    const metadata = record.metadata ? Object.keys(record.metadata).length : 0;
    if (metadata > v.maxMetadataEntries) {
      return { limit: "maxMetadataEntries", message: `${who}: ${metadata} metadata entries exceed the limit of ${v.maxMetadataEntries}` };
    }
    const bytes = Buffer.byteLength(JSON.stringify(record));
    if (bytes > v.maxRecordBytes) {
      return { limit: "maxRecordBytes", message: `${who}: the record is ${bytes} bytes, above the limit of ${v.maxRecordBytes}` };
    }
    if (counts.has(record.service, record.id)) return null;
    if (counts.serviceSize(record.service) >= v.maxInstancesPerService) {
      return { limit: "maxInstancesPerService", message: `${who}: service ${record.service} already has ${v.maxInstancesPerService} instances (the limit)` };
    }
    if (counts.size >= v.maxInstances) {
      return { limit: "maxInstances", message: `${who}: the registry already holds ${v.maxInstances} instances (the limit)` };
    }
    return null;
  }
}
