/** Options and public interfaces of the HTTP gateway. */
import type { StrategyName } from "../client/index.js";
import type { Logger, NatsSource } from "../protocol/index.js";

/** Options of a single call made through {@link GatewayCaller}. */
export interface GatewayCallOptions {
  /** Overall time budget of the call including retries, in ms (the call's deadline). */
  deadlineMs: number;
  /** Longest single attempt, in ms (default: the deadline, at most 5 s). */
  timeoutMs?: number;
  /** Routing key for the consistent-hash strategy. */
  key?: string;
  /** The call may be retried after a timeout or an HTTP service's 5xx (BAD_GATEWAY). */
  idempotent?: boolean;
  /** Balancing strategy of this call. */
  strategy?: StrategyName;
  /** Only instances whose version satisfies this semver range. */
  version?: string;
  /** Only instances carrying every one of these tags. */
  tags?: string[];
  /** Preferred zone (spill-over to others when it has no admitted instance). */
  zone?: string;
  /** Extra request headers (e.g. `Sb-Canary: 1` for a traffic policy's override). */
  headers?: Record<string, string>;
  /** Attempts at most (default: the client's); 1 for a single try. */
  maxAttempts?: number;
}

/**
 * What makes `POST /call` calls: the balanced client by default.
 * A rejection's `code` (a Switchboard error code such as `NOT_FOUND` or `UNAVAILABLE`) picks the HTTP status.
 */
export interface GatewayCaller {
  call(service: string, endpoint: string, payload: unknown, opts: GatewayCallOptions): Promise<unknown>;
  /** Names of the services the caller knows live instances of (for `POST /call {services}`); undefined when it cannot tell. */
  liveServices?(candidates: readonly string[]): string[] | undefined;
  /** Releases the caller's resources; called by {@link Gateway.stop}. */
  close?(): Promise<void>;
}

/** TLS settings of the gateway's HTTPS listener (PEM contents, not paths). */
export interface GatewayTlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  /** CA bundle to present with the certificate chain. */
  ca?: string | Buffer;
}

/** Options of {@link createGateway}. */
export type GatewayOptions = NatsSource & {
  /** Subject prefix (default `sb`). */
  prefix?: string;
  /** TCP port (default 3000, as in the seed; 0 picks a free one). */
  port?: number;
  /** Interface to bind (default 127.0.0.1; use 0.0.0.0 in a container). */
  host?: string;
  /** Largest request body accepted, in bytes (default 256 KiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** Time budget of registry requests and the default deadline of calls, in ms (default 5000). */
  timeoutMs?: number;
  /** Lifetime of a `POST /register` that names no TTL and no health check (default: durable, until deregistered). */
  registerTtlMs?: number;
  /**
   * Bearer tokens: when set, every route but `GET /health` requires `Authorization: Bearer <token>`
   * with one of them (compared in constant time), else 401.
   */
  authTokens?: readonly string[];
  /** Serve HTTPS with this key and certificate instead of plain HTTP (`tls` is the NATS connection's). */
  https?: GatewayTlsOptions;
  /**
   * Run an HTTP bridge member in the gateway process, so HTTP-registered instances are callable over
   * NATS (default true). Several gateways (and `switchboard bridge` processes) share the work.
   */
  bridge?: boolean;
  /** Default balancing strategy of calls (default: the client's). */
  strategy?: StrategyName;
  /** Replaces the balanced client for `/call` (tests, custom routing). */
  caller?: GatewayCaller;
  /** Logger (default: a pino logger named `gateway`). */
  logger?: Logger;
};

/** A running (or startable) gateway. */
export interface Gateway {
  /** Connects (if given settings) and starts listening; resolves to the gateway. */
  start(): Promise<this>;
  /** Stops listening, closes open HTTP connections, then the caller and an owned NATS connection. */
  stop(): Promise<void>;
  /** The bound port (after start). */
  readonly port: number;
  /** `http(s)://host:port` (after start). */
  readonly url: string;
}
