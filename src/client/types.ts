/** Public option and event types of the Switchboard client's call path. */
import type { PolicyCounter } from "./resolveCallOptions.js";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { Event, InstanceView, Logger, NatsSource } from "../protocol/index.js";
import type { Codec, CodecSpec } from "../protocol/codecs/index.js";
import type { BreakerOptions } from "./CircuitBreaker.js";
import type { AttemptRecord } from "./errors.js";
import type { InstanceStatsOptions } from "./InstanceStats.js";
import type { AttemptOutcome, BackoffOptions } from "./RetryPolicy.js";
import type { RetryBudgetOptions } from "./RetryBudget.js";
import type { RandomSource, StrategyName } from "./strategies/index.js";

/**
 * Where the client learns the live instances of a service. The client's RegistryCache implements
 * it; tests and embedders can pass their own. `instances` is called on the call path, so it must be
 * cheap (return a kept array, not a query).
 */
export interface RegistrySource {
  /** Live instances of `service` (the router uses `up` ones, else `suspect` ones, never `draining`). */
  instances(service: string): readonly InstanceView[];
  /**
   * Optional change notification, the same typed event as every component's (a RegistryCache's `onChange`
   * fits). A change naming its `service` makes the client re-read just that service; one without makes it
   * re-read every service. The client disposes the subscription when it stops.
   */
  readonly onChange?: Event<RegistrySourceChange>;
}

/** What a {@link RegistrySource} change tells the client: which service changed, if known. */
export interface RegistrySourceChange {
  readonly service?: string;
}

/** A clock in epoch milliseconds (fractions allowed); injectable for tests. */
export interface Clock {
  now(): number;
}

/** Timers for retry delays; injectable for fake-clock tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of one call (all optional; defaults come from the client). */
export interface CallOptions {
  /** Balancing strategy for this call. */
  strategy?: StrategyName;
  /** Key for `consistent-hash`: calls with the same key go to the same instance. */
  key?: string;
  /** Timeout of each attempt in ms. */
  timeoutMs?: number;
  /** Time budget of the whole call, retries and delays included, in ms; sent as the absolute `Sb-Deadline` header. */
  deadlineMs?: number;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** Retry delay schedule. */
  backoff?: BackoffOptions;
  /** The call may be repeated safely: timeouts and garbage replies are retried too. Default false. */
  idempotent?: boolean;
  /** Extra request headers. */
  headers?: MsgHdrs | Record<string, string>;
  /**
   * Only instances whose version satisfies this semver range (`^2.1.0`, `1.x`, `2.0.0-canary`).
   * When no live instance matches, the call fails at once with UnavailableError (it never goes to the
   * queue group, which would ignore the range).
   */
  version?: string;
  /** Only instances carrying every one of these tags. */
  tags?: string[];
  /**
   * Preferred zone (default: the client's `zone`): instances of this zone are used while one of them
   * is admitted and not overloaded; others only then. A preference, not a filter.
   */
  zone?: string;
  /**
   * Codec of the payload and the reply: `"json"`, `"raw"` (Uint8Array in and out), `"msgpack"`, a
   * user codec's name (registered with `createClient({ codecs })`) or a codec object. Default: the
   * codec the endpoint announces (json when it announces none or no instance is known). A codec
   * other than the endpoint's is answered `BAD_REQUEST` naming both.
   */
  codec?: CodecSpec;
}

/** Node-style callback of the callback form of `call`. */
export type CallCallback<T = unknown> = (err: Error | null, reply?: T) => void;

/** Options of `createClient`: a NATS connection (or settings to open one) plus call-path defaults. */
export type ClientOptions = NatsSource & {
  /** Subject prefix of the installation (default `sb`). */
  prefix?: string;
  /** Default strategy (default `p2c-ewma`). */
  strategy?: StrategyName;
  /** Default attempt timeout in ms (default 5000, the seed's detection timeout). */
  timeoutMs?: number;
  /** Default time budget of a whole call in ms (default 30 000). */
  deadlineMs?: number;
  /** Default attempts per call (default 5). */
  maxAttempts?: number;
  /** Default retry delays (default baseMs 1000, capMs 5000). */
  backoff?: BackoffOptions;
  /** Retry budget, or false to disable it (not recommended). */
  retryBudget?: RetryBudgetOptions | false;
  /** Per-instance circuit breaker options. */
  breaker?: BreakerOptions;
  /** Latency statistics behind `p2c-ewma` and `least-response-time`. */
  stats?: InstanceStatsOptions;
  /** Latency a failed attempt counts as in the load statistics (default 1000 ms), so a fast failure never attracts traffic. */
  failurePenaltyMs?: number;
  /** Ring points per instance for `consistent-hash` (default 160). */
  virtualNodes?: number;
  /**
   * Follow the traffic policies of the KV bucket `<prefix>_routes` (`switchboard route set`), watched
   * for changes. Default true; without JetStream or without the bucket, calls simply have no policy.
   */
  policies?: boolean;
  /** This client's zone: calls prefer instances announced with the same `zone` (see CallOptions.zone). */
  zone?: string;
  /**
   * Requests in flight at which an instance of the preferred zone counts as overloaded, so calls spill
   * over to other zones (default: off; instances that answer OVERLOADED are spilled over on retry anyway).
   */
  zoneSpillInFlight?: number;
  /**
   * Where live instances come from. Default: a RegistryCache on the client's connection. `false`:
   * none — every call goes to the queue-group subject and NATS balances.
   */
  registry?: RegistrySource | false;
  /**
   * Public NKeys of the coordinators' signing key: the default registry cache then accepts only signed
   * registry state (see RegistryCacheOptions.signerPublicKeys).
   */
  registrySignerKeys?: readonly string[];
  logger?: Logger;
  /** Clock for deadlines and latencies (default `performance.timeOrigin + performance.now()`). */
  clock?: Clock;
  /** Timers for retry delays (default the global ones). */
  timers?: Timers;
  /** Random source for strategies and jitter (default Math.random). */
  random?: RandomSource;
  /** Interval of the coarse timeout sweep in ms (default 10): attempt timeouts fire within this much. */
  sweepMs?: number;
  /** User codecs, known by name: endpoints that announce one of these names are called with it. */
  codecs?: Codec[];
};

/** Fired by `client.onRetry` before each retry. */
export interface RetryEvent {
  service: string;
  endpoint: string;
  /** Attempts made so far (the next one is attempt + 1). */
  attempt: number;
  /** Delay before the next attempt in ms. */
  delayMs: number;
  /** The failed attempt. */
  failed: AttemptRecord;
}

/** Fired by `client.onGiveUp` when a call fails after retries were possible. */
export interface GiveUpEvent {
  service: string;
  endpoint: string;
  outcome: AttemptOutcome;
  attempts: number;
  /** Why no further attempt was made. */
  reason: "not-retryable" | "max-attempts" | "deadline" | "budget" | "ejected" | "no-match";
}

/** Counters of a client since it was created. */
export interface ClientStats {
  /** Calls started. */
  calls: number;
  /** Calls that returned a reply. */
  succeeded: number;
  /** Calls that failed. */
  failed: number;
  /** Attempts sent (first attempts and retries). */
  attempts: number;
  /** Retries made. */
  retries: number;
  /** Retries refused by the retry budget. */
  budgetExhausted: number;
  /** Attempts answered by NATS "no responders". */
  noResponders: number;
  /** Attempts that timed out. */
  timeouts: number;
  /** Replies that arrived after their attempt had timed out (dropped). */
  lateReplies: number;
  /** Replies that were not valid JSON. */
  badReplies: number;
  /** Calls sent to the queue-group subject because the registry knew no instance. */
  fallbackCalls: number;
  /** Calls refused because every live instance was ejected and none could be admitted before the deadline. */
  rejected: number;
  /** Times a call waited for an ejected instance's cool-down to end (within its deadline) instead of failing. */
  waitedForBreaker: number;
  /** Circuit breaker transitions and currently open breakers. */
  breakers: { opened: number; halfOpened: number; closed: number; open: number };
  /** Requests currently awaiting a reply. */
  pending: number;
  /**
   * Traffic policies: how many are in force, how many stored values were refused as invalid, and the
   * calls that succeeded through each subset of each policy revision (by weight or by header override).
   */
  policies: { inForce: number; refused: number; served: PolicyCounter[] };
}
