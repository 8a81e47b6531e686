/** Public types of the Switchboard agent. */
import type { MsgHdrs } from "@nats-io/transport-node";
import type { Logger, NatsSettings, NatsSource } from "../protocol/index.js";
import type { CodecSpec } from "../protocol/codecs/index.js";

/** Options of {@link createAgent}. Pass `nats` to share a connection, or connection settings to let the agent own one. */
export type AgentOptions = NatsSource & {
  /** Service name: one subject token (letters, digits, `_`, `-`). */
  service: string;
  /** Version of this instance (semver recommended: NATS micro tooling shows it). Default `0.0.0`. */
  version?: string;
  /** Instance id; default a random UUID. Must be a subject token. */
  id?: string;
  /** Subject prefix of the installation. Default `sb`. */
  prefix?: string;
  /** Heartbeat interval in ms (default 1000). Failure detection is derived from it. */
  heartbeatMs?: number;
  /** Free-form string metadata announced with the instance. */
  metadata?: Record<string, string>;
  /** Tags announced with the instance. */
  tags?: string[];
  /** Zone (region, rack) of this instance, a subject token: callers in the same zone prefer it. */
  zone?: string;
  /** Relative weight for the weighted balancing strategy (default 1). */
  weight?: number;
  /** Default per-endpoint limit of concurrent requests; past it the agent answers OVERLOADED at once. Default 1000. */
  maxInFlight?: number;
  /**
   * Milliseconds between metrics snapshots on `<prefix>.metrics.<service>.<instance>` (default 1000;
   * 0: record but do not publish). Alert latency is at least this.
   */
  metricsIntervalMs?: number;
  /** Description shown by `$SRV.INFO`. */
  description?: string;
  /** Logger; default a pino logger named `agent`. */
  logger?: Logger;
};

/** Options of `agent.drain()`. */
export interface DrainOptions {
  /** Longest the whole drain may take, in ms (default 10 000); requests still running then are abandoned. */
  deadlineMs?: number;
  /** Longest wait for the registry event confirming `draining`, in ms (default 2 heartbeats + 1 s). */
  confirmMs?: number;
  /** Time to keep serving after the confirmation, for requests already on their way, in ms (default 250). */
  settleMs?: number;
}

/** Per-endpoint options. */
export interface EndpointOptions {
  /** Concurrent requests this endpoint takes before answering OVERLOADED (default: the agent's maxInFlight). */
  maxInFlight?: number;
  /** Metadata shown for the endpoint by `$SRV.INFO`. */
  metadata?: Record<string, string>;
  /**
   * Codec of the request and reply bodies: `"json"` (default), `"raw"` (Uint8Array in and out, no
   * parse, no copy), `"msgpack"`, or a {@link Codec} object (protobuf through your generated code…).
   * Announced with the endpoint; requests encoded otherwise are answered `BAD_REQUEST`.
   */
  codec?: CodecSpec;
  /**
   * Do not decode the body before calling the handler: the handler's payload argument is undefined
   * and it calls `ctx.payload()` when (if) it needs the value, or forwards `ctx.data` untouched
   * (return `encoded(ctx.data)` to reply with it without encoding or copying). Default false.
   */
  lazy?: boolean;
}

/** What a handler knows about the request it serves. */
export interface RequestContext {
  readonly service: string;
  readonly instanceId: string;
  readonly endpoint: string;
  /** The subject the request arrived on (`…inst…` when balanced, `…svc…` on the queue-group fallback). */
  readonly subject: string;
  /** Request headers, if any (decoded on first access). */
  readonly headers: MsgHdrs | undefined;
  /**
   * The caller's W3C `traceparent` header, if any (the agent's SERVER span is its child, and is the
   * active OpenTelemetry span while the handler runs).
   */
  readonly traceparent: string | undefined;
  /** The request body as received, in the endpoint's codec: a view of the message, never a copy. */
  readonly data: Uint8Array;
  /**
   * The decoded body (decoded on the first call, then remembered). On a `lazy` endpoint this is how
   * the handler gets the payload; a body the codec refuses throws a `ServiceError("BAD_REQUEST")`.
   */
  payload<T = unknown>(): T;
  /** Absolute deadline of the call (epoch ms) from the `Sb-Deadline` header, if the caller set one. */
  readonly deadline: number | undefined;
  /** Milliseconds left before the caller gives up (Infinity without a deadline). */
  remainingMs(): number;
  /** Aborts when the deadline passes; created on first access. */
  readonly signal: AbortSignal;
}

/**
 * An endpoint handler: receives the decoded payload (undefined on a `lazy` endpoint), returns (or
 * resolves to) the reply value, which the endpoint's codec encodes (an `EncodedBody` is sent as is).
 */
export type Handler = (payload: unknown, ctx: RequestContext) => unknown;

/** Reported to {@link Agent.onRequest} observers after each handled request. */
export interface RequestObservation {
  endpoint: string;
  durationMs: number;
  /** Error code of the reply when the request failed (`INTERNAL`, `OVERLOADED`, a service code…). */
  error?: string;
}

export type { NatsSettings };
