/** Public types of the operator console (`switchboard console`). */
import type { Logger, NatsSource } from "../protocol/index.js";

/** Options of {@link createConsole}. Pass `nats` to share a connection, or settings to let the console own one. */
export type ConsoleOptions = NatsSource & {
  /** Subject prefix of the installation (default `sb`). */
  prefix?: string;
  /** TCP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Interface to bind (default 127.0.0.1; use 0.0.0.0 in a container). */
  host?: string;
  /**
   * Bearer tokens, as the gateway takes them: when set, every `/api` route but `/api/session`
   * requires `Authorization: Bearer <token>` (or the session cookie `POST /api/session` sets) with
   * one of them, compared in constant time; else 401. The page itself carries no data and is public.
   */
  authTokens?: readonly string[];
  /** Largest batching delay of live updates, in ms (default 500: at most two updates a second per browser). */
  flushMs?: number;
  /** How often the collector is asked for traffic figures, in ms (default 2000). */
  metricsStepMs?: number;
  /** How far back alert transitions are read from the alert stream at start, in ms (default 1 hour). */
  alertHistoryMs?: number;
  /** Labels the notifier groups alerts by (default alertname, service, severity — the notifier's default). */
  groupBy?: readonly string[];
  /** Who acknowledges when the page does not say (default `console`). */
  ackBy?: string;
  /** Time budget of NATS requests (collector queries, acks), in ms (default 3000). */
  requestTimeoutMs?: number;
  /** Most concurrent live-update streams (default 200); more get 503. */
  maxStreams?: number;
  /** Folder of the built page (default: `dist/web` of the package, built by `npm run build`). */
  webRoot?: string;
  /** Logger (default pino `console`). */
  logger?: Logger;
};

/** A running (or startable) console. */
export interface Console {
  /** `http://host:port/` once started. */
  readonly url: string;
  /** The bound port once started. */
  readonly port: number;
  /** Connects (if given settings), starts the feeds and listens. */
  start(): Promise<this>;
  /** Closes streams, stops listening and the feeds, closes an owned connection. */
  stop(): Promise<void>;
}
