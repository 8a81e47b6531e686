/** Public types of the client-side registry cache. */
import type { InstanceView, Logger, NatsSource } from "../../protocol/index.js";

/** Liveness of an instance (`removed`: it left the registry). */
export type CachedState = InstanceView["state"];

/** One change of the cached registry, as `onChange` listeners and `changes()` iterators see it. */
export interface RegistryCacheChange {
  /** Service of the instance (lets a router re-read just that service). */
  readonly service: string;
  /** Instance id. */
  readonly id: string;
  /** State after the change; `removed` when the instance left. */
  readonly type: CachedState;
  /** State before, or null when the cache did not know the instance. */
  readonly previous: CachedState | null;
  /** The instance after the change. */
  readonly view: InstanceView;
  /** Registry revision after the change. */
  readonly revision: number;
  /** Whether a registry event or a (re)loaded snapshot brought it. */
  readonly source: "event" | "snapshot";
}

/** Options of {@link createRegistryCache}. Pass `nats` to share a connection, or settings to let the cache own one. */
export type RegistryCacheOptions = NatsSource & {
  /** Subject prefix of the installation. Default `sb`. */
  prefix?: string;
  /** How long to wait for a coordinator's snapshot, in ms (default 2000). */
  queryTimeoutMs?: number;
  /** While no coordinator has answered, retry the snapshot this often, in ms (default 2000). */
  retryMs?: number;
  /** Also reload the snapshot this often while in sync, in ms (default 0: only on gaps and reconnects). */
  refreshMs?: number;
  /** Largest snapshot part or event accepted, in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Logger; default a pino logger named `registry-cache`. */
  logger?: Logger;
  /**
   * Public NKeys of the coordinators' signing key(s). With them the cache accepts only events and
   * snapshot parts signed by one of these keys (headers `Sb-Signer`, `Sb-Signature`); default: unsigned
   * state is accepted (and still checked against the lease).
   */
  signerPublicKeys?: readonly string[];
};

/** Counters of a registry cache. */
export interface RegistryCacheStats {
  revision: number;
  synced: boolean;
  instances: number;
  /** Events applied. */
  events: number;
  /** Revision gaps seen (each triggers a resync). */
  gaps: number;
  /** Snapshots loaded. */
  snapshots: number;
  /** Snapshot requests that failed (no coordinator, timeout, bad reply). */
  failedSyncs: number;
  /** Invalid events dropped. */
  invalid: number;
  /** Events of a new leadership term seen (each reloads after reading the lease). */
  newTerms: number;
  /** Well-formed events refused: not the current leader and term, a conflicting duplicate, or unsigned. */
  refusedEvents: number;
  /** Snapshot parts refused: not the lease's leader and term, too far ahead, or unsigned. */
  refusedSnapshots: number;
  /** Refusals per kind (`registry-event`, `registry-snapshot`, `lease`). */
  untrusted: Record<string, number>;
}

/** Failure of a registry query. */
export class RegistryQueryError extends Error {
  override readonly name = "RegistryQueryError";
  constructor(
    message: string,
    /** `no-coordinator` (nobody listens), `timeout`, `bad-reply`, or `refused` (an error reply, see `code`). */
    readonly reason: "no-coordinator" | "timeout" | "bad-reply" | "refused",
    /** Error code of a refusal (e.g. BAD_REQUEST). */
    readonly code?: string,
  ) {
    super(message);
  }
}
