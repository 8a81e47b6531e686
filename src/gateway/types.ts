/** Options and public interfaces of the HTTP gateway. */
import type { NatsSource } from "../protocol/index.js";

/** Options of a single call made through {@link GatewayCaller}. */
export interface GatewayCallOptions {
  /** Overall time budget of the call, in ms. */
  timeoutMs: number;
  /** Routing key for the consistent-hash strategy (from `?key=`). */
  key?: string;
}

/**
 * What makes `POST /call/<service>/<endpoint>` calls: the balanced client by default.
 * A rejection's `code` (a Switchboard error code such as `NOT_FOUND` or `UNAVAILABLE`) picks the HTTP status.
 */
export interface GatewayCaller {
  call(service: string, endpoint: string, payload: unknown, opts: GatewayCallOptions): Promise<unknown>;
  /** Releases the caller's resources; called by {@link Gateway.stop}. */
  close?(): Promise<void>;
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
  /** Time budget of registry requests and of calls, in ms (default 5000); `?timeoutMs=` overrides it per call. */
  timeoutMs?: number;
  /** Lifetime of a registration without a refresh, sent with `POST /register` (default: the coordinator's, 30 s). */
  registerTtlMs?: number;
  /** Replaces the balanced client for `/call` (tests, custom routing). */
  caller?: GatewayCaller;
};

/** A running (or startable) gateway. */
export interface Gateway {
  /** Connects (if given settings) and starts listening; resolves to the gateway. */
  start(): Promise<this>;
  /** Stops listening, closes open HTTP connections, then the caller and an owned NATS connection. */
  stop(): Promise<void>;
  /** The bound port (after start). */
  readonly port: number;
  /** `http://host:port` (after start). */
  readonly url: string;
}
