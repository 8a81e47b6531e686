/**
 * `switchboard console`: the operator console. A NATS client like any other — a registry cache
 * for instances and registry events, collector queries for traffic, the alert stream and the
 * notifier's buckets for alerts, acks and mails — behind an HTTP server that serves the page,
 * a JSON API and live updates over Server-Sent Events.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import { RegistryCache } from "../client/registry/index.js";
import { InvalidInputLog, Subjects, createLogger, decodeMessage, openNats, type ConsoleSnapshot, type Logger } from "../protocol/index.js";
import { AlertFeed } from "./AlertFeed.js";
import { TokenCheck } from "./auth.js";
import { buildConsoleApp } from "./consoleApp.js";
import { ConsoleState } from "./ConsoleState.js";
import { MetricsFeed } from "./MetricsFeed.js";
import type { Console, ConsoleOptions } from "./types.js";
import { UpdateHub } from "./UpdateHub.js";
import { findWebRoot } from "./webAssets.js";

/** See the module comment. Create with {@link createConsole}. */
class ConsoleServer implements Console {
  private readonly log: Logger;
  private readonly subjects: Subjects;
  private nc: NatsConnection | undefined;
  private ownsConnection = false;
  private cache: RegistryCache | undefined;
  private alerts: AlertFeed | undefined;
  private metrics: MetricsFeed | undefined;
  private hub: UpdateHub | undefined;
  private app: FastifyInstance | undefined;
  private heartbeatSubs = new Map<string, Subscription>();
  private boundPort = 0;
  private host: string;

  constructor(private readonly opts: ConsoleOptions) {
    this.log = opts.logger ?? createLogger("console");
    this.subjects = new Subjects(opts.prefix ?? "sb");
    this.host = opts.host ?? "127.0.0.1";
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.host === "0.0.0.0" || this.host === "::" ? "127.0.0.1" : this.host.includes(":") ? `[${this.host}]` : this.host;
    return `http://${host}:${this.boundPort}/`;
  }

  async start(): Promise<this> {
    if (this.nc) throw new Error("console already started");
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: "sb-console", ...this.opts, nats: undefined });
    this.nc = nc;
    this.ownsConnection = owned;
    const invalid = new InvalidInputLog(this.log);
    const cache = new RegistryCache({ nats: nc, prefix: this.subjects.prefix, logger: this.log.child({ component: "registry-cache" }) });
    const state = new ConsoleState(cache, (service, id) => this.subjects.allInstanceEndpoints(service, id), this.opts.groupBy ? { groupBy: this.opts.groupBy } : {});
    const hub = new UpdateHub(state, {
      flushMs: this.opts.flushMs ?? 500,
      maxStreams: this.opts.maxStreams ?? 200,
      status: () => ({ registry: this.registryStatus(), collector: this.metrics!.status }),
      snapshot: (service) => this.snapshot(state, service),
    });
    this.hub = hub;
    cache.onChange((c) => {
      state.applyInstanceChange(c, Date.now());
      hub.schedule();
    });
    this.cache = cache;
    await cache.start();
    this.metrics = new MetricsFeed(nc, state, {
      subjects: this.subjects,
      stepMs: this.opts.metricsStepMs ?? 2000,
      timeoutMs: this.opts.requestTimeoutMs ?? 3000,
      watched: () => hub.watched(),
      onChange: () => {
        this.watchHeartbeats(state, hub.watched());
        hub.schedule();
      },
    }).start();
    this.alerts = new AlertFeed(nc, state, {
      prefix: this.subjects.prefix,
      historyMs: this.opts.alertHistoryMs ?? 3_600_000,
      onChange: () => hub.schedule(),
      log: this.log,
      invalid,
    }).start();
    hub.start();
    this.app = buildConsoleApp({
      nc,
      subjects: this.subjects,
      state,
      hub,
      tokens: new TokenCheck(this.opts.authTokens),
      snapshot: (service) => this.snapshot(state, service),
      ackBy: (this.opts.ackBy ?? "console").slice(0, 128),
      requestTimeoutMs: this.opts.requestTimeoutMs ?? 3000,
      webRoot: this.opts.webRoot ?? findWebRoot(),
      log: this.log,
    });
    await this.app.listen({ port: this.opts.port ?? 8080, host: this.host });
    const addr = this.app.server.address();
    this.boundPort = typeof addr === "object" && addr ? addr.port : 0;
    this.log.info({ url: this.url }, "console listening");
    return this;
  }

  async stop(): Promise<void> {
    this.hub?.stop();
    await this.app?.close();
    await this.metrics?.stop();
    await this.alerts?.stop();
    for (const s of this.heartbeatSubs.values()) s.unsubscribe();
    this.heartbeatSubs.clear();
    await this.cache?.close();
    if (this.ownsConnection) await this.nc?.close();
    this.nc = undefined;
  }

  private registryStatus() {
    const s = this.cache!.stats();
    return { synced: s.synced, revision: s.revision, instances: s.instances, services: this.cache!.serviceNames().length };
  }

  private snapshot(state: ConsoleState, service: string | undefined): ConsoleSnapshot {
    const detail = service ? state.detail(service) : undefined;
    return {
      v: 1,
      at: Date.now(),
      prefix: this.subjects.prefix,
      metricsStepMs: this.opts.metricsStepMs ?? 2000,
      registry: this.registryStatus(),
      collector: this.metrics!.status,
      services: state.services(),
      alerts: state.alertList(),
      events: state.eventLog(),
      ...(detail ? { detail } : {}),
    };
  }

  /**
   * Heartbeats of the services someone is looking at, for live "last heartbeat" and in-flight
   * figures. A heartbeat counts only for an instance the registry knows, on its own subject.
   */
  private watchHeartbeats(state: ConsoleState, watched: Set<string>): void {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    for (const [service, sub] of this.heartbeatSubs) {
      if (watched.has(service)) continue;
      sub.unsubscribe();
      this.heartbeatSubs.delete(service);
    }
    for (const service of watched) {
      if (this.heartbeatSubs.has(service)) continue;
      const sub = nc.subscribe(`${this.subjects.prefix}.heartbeat.${service}.*`, {
        callback: (err, msg) => {
          if (err) return;
          const where = this.subjects.parseInstanceEvent(msg.subject);
          const d = decodeMessage("heartbeat", msg.data);
          if (!where || !d.ok || d.value.id !== where.instance || d.value.service !== where.service) return;
          if (!this.cache?.get(where.service, where.instance)) return;
          state.applyHeartbeat(where.service, where.instance, d.value.sentAt, d.value.inFlight);
        },
      });
      this.heartbeatSubs.set(service, sub);
    }
  }
}

/** Creates a console; call `start()` to connect and listen. */
export function createConsole(opts: ConsoleOptions = {}): Console {
  return new ConsoleServer(opts);
}
