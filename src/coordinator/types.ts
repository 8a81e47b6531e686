/** Public types of the coordinator: the registry state machine's inputs and outputs, and the coordinator's options. */
import type { CompiledSelector, InstanceRecord, InstanceView, Logger, NatsSource } from "../protocol/index.js";
import type { RegistryLimitsOptions } from "./RegistryLimits.js";

/** Liveness of an instance as the registry derives it. `removed` only ever appears in a change, never in the registry. */
export type InstanceState = InstanceView["state"];

/** Health status an instance reports in its heartbeats. */
export type HealthStatus = InstanceView["status"];

/** Why the registry changed. */
export type ChangeReason =
  /** An announce created, revived or changed the instance. */
  | "announce"
  /** A register request (no agent) created, refreshed or changed the instance. */
  | "register"
  /** A heartbeat revived a suspect or down instance. */
  | "heartbeat"
  /** A heartbeat reported another health status (`ok`, `degraded`, `draining`). */
  | "status"
  /** Heartbeats stopped for longer than a threshold (suspect, down, removed). */
  | "timeout"
  /** A registration was not refreshed within its TTL. */
  | "expired"
  /** The instance said goodbye (graceful stop). */
  | "leave"
  /** A follower applied the leader's authoritative event. */
  | "leader"
  /** A coordinator that became leader publishes a state its predecessor had not published. */
  | "reconcile";

/** One change of the registry: what the leading coordinator publishes as a `registry-event`. */
export interface RegistryChange {
  /** The state the instance is in after the change (`removed`: it is gone). */
  readonly type: InstanceState;
  /** The state before, or null for an instance the registry did not know. */
  readonly previous: InstanceState | null;
  readonly reason: ChangeReason;
  /** The instance after the change (with `state` = `type`). */
  readonly view: InstanceView;
  /** When the change happened (the clock passed to the input). */
  readonly at: number;
}

/** What a heartbeat did: nothing visible, off-sequence ("stale": proof of life only), unknown instance, or a change (revival, status). */
export type HeartbeatResult = "ok" | "stale" | "unknown" | RegistryChange;

/** One instance held by the registry. Read-only view of the state machine's entry. */
export interface RegistryEntry {
  readonly record: InstanceRecord;
  readonly state: Exclude<InstanceState, "removed">;
  /** When it entered its current state. */
  readonly since: number;
  /** Last proof of life (announce, heartbeat, register), on the registry's clock. */
  readonly lastSeen: number;
  /** Last heartbeat sequence number accepted; -1 before the first. */
  readonly seq: number;
  readonly inFlight: number;
  readonly status: HealthStatus;
  /** Registered without an agent (`register` request): expires after `ttlMs` instead of suspect/down. */
  readonly registered: boolean;
  /** TTL of a registration; undefined for agents. */
  readonly ttlMs: number | undefined;
  /** The state the leader last published (or that a follower last heard from the leader); null if none yet. */
  readonly published: InstanceState | null;
}

/** Thresholds of failure detection, as multiples of each instance's own heartbeat interval. */
export interface RegistryThresholds {
  /**
   * Extra fraction of an interval before an instance that missed its heartbeat becomes `suspect`
   * (default 0.5: suspect 1.5 intervals after the last heartbeat, so it leaves routing within 1.5 intervals).
   */
  suspectGrace?: number;
  /** Intervals without a heartbeat before `down` (default 3). Must exceed 1 + suspectGrace. */
  downAfterIntervals?: number;
  /** Intervals without a heartbeat before the instance is removed (default 10). Must exceed downAfterIntervals. */
  removeAfterIntervals?: number;
}

/** An instance loaded from persistence (a restarted coordinator resumes with these). */
export interface LoadedInstance {
  view: InstanceView;
  /** Registration TTL for instances registered without an agent. */
  ttlMs?: number;
}

/** Filter of registry queries. */
export interface RegistryFilter {
  service?: string;
  states?: readonly InstanceState[];
  /** Only instances whose record this selector matches (version range, tags, zone). */
  selector?: CompiledSelector | undefined;
}

/** Options of {@link createCoordinator}. Pass `nats` to share a connection, or connection settings to let it own one. */
export type CoordinatorOptions = NatsSource &
  RegistryThresholds & {
    /** Subject prefix of the installation. Default `sb`. */
    prefix?: string;
    /** This coordinator's id (shown in snapshots, events and the lease). Default `coord-<random>`. */
    id?: string;
    /** Run the active HTTP health checks of registrations with a `healthCheck` while leading (default true). */
    httpHealthChecks?: boolean;
    /**
     * Leadership lease time in ms (default 3000): a leader that stops renewing loses leadership after
     * this long, and another coordinator takes over. Renewed every leaseMs/3.
     */
    leaseMs?: number;
    /**
     * How often liveness is evaluated, in ms. Default: a tenth of the shortest heartbeat interval in the
     * registry, between 10 and 250 ms, so detection adds at most 10 % of an interval.
     */
    tickMs?: number;
    /** TTL of registrations that name neither a TTL nor a health check (default: none, they are durable until deregistered). */
    defaultRegisterTtlMs?: number;
    /** Largest accepted announce/heartbeat/leave/query/register body in bytes (default 64 KiB). */
    maxMessageBytes?: number;
    /**
     * Use JetStream (default true): KV persistence of the registry and the leadership lease. With false the
     * coordinator keeps the registry in memory only and always leads: run only one such coordinator.
     */
    jetstream?: boolean;
    /** Coalescing delay of registry writes to KV, in ms (default 250). */
    persistIntervalMs?: number;
    /** Replicas of the KV buckets (default 1; use 3 on a 3-node cluster). */
    kvReplicas?: number;
    /** An unknown instance is asked to re-announce at most this often, in ms (default 1000). */
    unknownSyncIntervalMs?: number;
    /** Logger; default a pino logger named `coordinator`. */
    logger?: Logger;
    /** Clock (epoch ms); injectable for tests. */
    now?: () => number;
    /**
     * Called after every registry query answered, with its timing (benchmarks use it). Without it the
     * query path reads no clock.
     */
    onQueryAnswered?: (timing: QueryTiming) => void;
    /**
     * NKey seed (`S…`) to sign registry events and snapshot parts with (ed25519, headers `Sb-Signer` and
     * `Sb-Signature`); clients configured with its public key accept nothing else. Every coordinator of
     * an installation uses the same seed (or lists the others' public keys in `trustedSigners`), and
     * with a seed a coordinator also refuses unsigned events. Default: unsigned.
     */
    signingSeed?: string;
    /** Limits of the registry (instances in total and per service, record size, endpoints, metadata, heartbeat interval). */
    limits?: RegistryLimitsOptions;
    /** More public NKeys whose signed events a signing coordinator accepts (key rotation). */
    trustedSigners?: readonly string[];
  };

/** Counters of a running coordinator. */
export interface CoordinatorStats {
  id: string;
  leader: boolean;
  revision: number;
  instances: number;
  /** Heartbeats accepted. */
  heartbeats: number;
  /** Heartbeats whose seq did not continue the sequence (not above the last, or jumping too far): proof of life only. */
  staleHeartbeats: number;
  /** Heartbeats from instances the registry does not know (answered with a targeted sync). */
  unknownHeartbeats: number;
  /** Registry events published (as leader). */
  eventsPublished: number;
  /** Refused input per kind (`heartbeat`, `announce`, `registry-query`, …). */
  invalid: Record<string, number>;
  /** Total refused input. */
  invalidTotal: number;
  /** Well-formed registry events refused as not from the current leader and term, unsigned, or jumping, per kind. */
  untrusted: Record<string, number>;
  /** Total of those. */
  untrustedTotal: number;
  /** Announces and registrations refused by a limit, per limit (`maxInstances`, `maxRecordBytes`, …). */
  refusedByLimit: Record<string, number>;
  /** Persistence: writes and purges done, and failures. */
  persisted: number;
  persistFailures: number;
}

/** How long answering one registry query took (encode + publish), for {@link CoordinatorOptions.onQueryAnswered}. */
export interface QueryTiming {
  /** Wall time, ms. */
  wallMs: number;
  /** The process's CPU time, ms (other processes competing for the cores do not inflate it). */
  cpuMs: number;
  /** Replies sent (a snapshot larger than max_payload is split). */
  parts: number;
}

/** A leadership change of one coordinator. */
export interface LeadershipChange {
  leader: boolean;
  /** Revision the leader continues from. */
  revision: number;
}
