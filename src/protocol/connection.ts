/**
 * NATS connection settings shared by every component: servers, authentication and TLS.
 * They come from explicit options or from the environment (NATS_URL, NATS_USER, …).
 */
import { readFileSync } from "node:fs";
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
} from "@nats-io/transport-node";

/** Default server when neither options nor NATS_URL name one. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** How to reach and authenticate to NATS. */
export interface NatsSettings {
  /** One or more server URLs. Default: NATS_URL, else {@link DEFAULT_NATS_URL}. */
  servers?: string | string[];
  /** User name for user/password authentication. */
  user?: string;
  /** Password for user/password authentication. */
  pass?: string;
  /** Token authentication. */
  token?: string;
  /** Path of a `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  /** Path of a file holding an nkey seed (`SU…`). */
  nkeyFile?: string;
  /** TLS: CA bundle to trust, and client certificate and key for mutual TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /**
   * Prefix of this connection's reply inboxes (default `_INBOX`). Give each NATS user its own, e.g.
   * `_INBOX_web`, and allow it to subscribe only `_INBOX_web.>`: nobody else can then listen to its replies.
   */
  inboxPrefix?: string;
  /** Milliseconds between reconnect attempts (default 250: failure detection runs on short intervals). */
  reconnectTimeWaitMs?: number;
  /**
   * Milliseconds the first connection may take, TLS handshake and authentication included (nats.js
   * default 20 000). A server that rejects the client's certificate is only noticed when it runs out.
   */
  connectTimeoutMs?: number;
}

/** Translates {@link NatsSettings} into nats.js connection options. */
export function toConnectionOptions(settings: NatsSettings): ConnectionOptions {
  const servers = settings.servers ?? DEFAULT_NATS_URL;
  const opts: ConnectionOptions = {
    servers,
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: settings.reconnectTimeWaitMs ?? 250,
    reconnectJitter: 100,
    // Async stack traces cost an Error per request; the call path cannot afford them.
    noAsyncTraces: true,
  };
  if (settings.connectTimeoutMs !== undefined) opts.timeout = settings.connectTimeoutMs;
  if (settings.inboxPrefix !== undefined) opts.inboxPrefix = settings.inboxPrefix;
  if (settings.user !== undefined) opts.user = settings.user;
  if (settings.pass !== undefined) opts.pass = settings.pass;
  if (settings.token !== undefined) opts.token = settings.token;
  if (settings.credsFile) opts.authenticator = credsAuthenticator(readFileSync(settings.credsFile));
  else if (settings.nkeyFile) {
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(settings.nkeyFile, "utf8").trim()));
  }
  if (settings.tls) {
    const tls: Record<string, string> = {};
    if (settings.tls.caFile) tls.caFile = settings.tls.caFile;
    if (settings.tls.certFile) tls.certFile = settings.tls.certFile;
    if (settings.tls.keyFile) tls.keyFile = settings.tls.keyFile;
    opts.tls = tls;
  }
  return opts;
}

/** Connects to NATS with {@link NatsSettings}. */
export function connectNats(settings: NatsSettings = {}): Promise<NatsConnection> {
  return connect(toConnectionOptions(settings));
}

/**
 * Either an existing connection (the component does not close it) or settings to open one
 * (the component owns it and closes it on stop). Every component accepts this.
 */
export type NatsSource = { nats: NatsConnection } | ({ nats?: undefined } & NatsSettings);

/** Resolves a {@link NatsSource} to a connection and whether the caller owns it. */
export async function openNats(source: NatsSource): Promise<{ nc: NatsConnection; owned: boolean }> {
  if (source.nats) return { nc: source.nats, owned: false };
  return { nc: await connectNats(source), owned: true };
}
