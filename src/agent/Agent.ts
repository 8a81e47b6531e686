/**
 * The Switchboard agent: a service instance's presence on NATS. It announces itself, heartbeats,
 * serves its endpoints on its own subject and on the service's queue-group subject, re-announces
 * when a coordinator asks (`sync`) or after a reconnect, and leaves on stop.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { v4 as uuidv4 } from "uuid";
import {
  DEFAULT_PREFIX,
  InvalidInputLog,
  ReplyGuard,
  Subjects,
  assertToken,
  createLogger,
  decodeMessage,
  encodeJson,
  openNats,
  type Heartbeat,
  type InstanceRecord,
  type Logger,
} from "../protocol/index.js";
import { EndpointServer, type Endpoint } from "./EndpointServer.js";
import { serveMicroDiscovery } from "./MicroDiscovery.js";
import { AgentMetrics, MetricsPublisher, type AgentMetricsApi } from "./metrics/index.js";
import type { AgentOptions, DrainOptions, EndpointOptions, Handler, RequestObservation } from "./types.js";

/** A running (or not yet started) service instance. Create with {@link createAgent}. */
export class Agent {
  /** This instance's id (a subject token, default a UUID). */
  readonly id: string;
  /** The service this instance belongs to. */
  readonly service: string;
  /** Subjects of this installation. */
  readonly subjects: Subjects;
  /** Refused input (sync messages, requests with a refused reply subject), counted. */
  readonly invalid: InvalidInputLog;
  /** Every reply this instance sends goes through it: reply-subject policy, oversized replies, counters. */
  readonly replies: ReplyGuard;
  /** Metrics: per-endpoint requests, errors and latency are recorded automatically; add user metrics here. */
  readonly metrics: AgentMetricsApi;

  private readonly version: string;
  private readonly heartbeatMs: number;
  private readonly server: EndpointServer;
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private connection: NatsConnection | undefined;
  private ownsConnection = false;
  private readonly subs: Subscription[] = [];
  private readonly svcSubs = new Map<string, Subscription>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private announceTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private state: "new" | "running" | "stopping" | "stopped" = "new";
  /** Health status sent in heartbeats: `draining` from {@link drain} on. */
  private healthStatus: "ok" | "draining" = "ok";
  private draining: Promise<void> | undefined;
  private readonly lifecycle: Array<{ start?: () => void | Promise<void>; stop?: () => void | Promise<void> }> = [];

  constructor(private readonly opts: AgentOptions) {
    this.service = assertToken("service", opts.service);
    this.id = assertToken("instance id", opts.id ?? uuidv4());
    this.version = opts.version ?? "0.0.0";
    if (opts.zone !== undefined) assertToken("zone", opts.zone);
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    if (!Number.isInteger(this.heartbeatMs) || this.heartbeatMs < 10) throw new RangeError("heartbeatMs must be an integer ≥ 10");
    this.subjects = new Subjects(opts.prefix ?? DEFAULT_PREFIX);
    this.log = opts.logger ?? createLogger("agent");
    this.log = this.log.child({ service: this.service, instance: this.id });
    this.invalid = new InvalidInputLog(this.log);
    this.replies = new ReplyGuard({ prefix: this.subjects.prefix, invalid: this.invalid, log: this.log });
    this.server = new EndpointServer(this.service, this.id, opts.maxInFlight ?? 1000, this.log, this.replies);
    const metrics = new AgentMetrics();
    this.metrics = metrics;
    this.server.onRequest((o) => metrics.record(o));
    const metricsIntervalMs = opts.metricsIntervalMs ?? 1000;
    if (!Number.isInteger(metricsIntervalMs) || (metricsIntervalMs !== 0 && metricsIntervalMs < 10)) {
      throw new RangeError("metricsIntervalMs must be 0 (off) or an integer ≥ 10");
    }
    if (metricsIntervalMs > 0) {
      const publisher = new MetricsPublisher({
        metrics,
        nc: () => this.nc,
        subject: this.subjects.metrics(this.service, this.id),
        service: this.service,
        id: this.id,
        startedAt: this.startedAt,
        intervalMs: metricsIntervalMs,
        log: this.log,
        endpoints: () => this.server.endpoints.keys(),
      });
      this.addLifecycle({ start: () => publisher.start(), stop: () => publisher.stop() });
    }
  }

  /** The NATS connection; throws before {@link start}. */
  get nc(): NatsConnection {
    if (!this.connection) throw new Error("agent is not started");
    return this.connection;
  }

  /** The record this instance announces. */
  get record(): InstanceRecord {
    const r: InstanceRecord = {
      id: this.id,
      service: this.service,
      version: this.version,
      endpoints: [...this.server.endpoints.keys()],
      heartbeatMs: this.heartbeatMs,
      startedAt: this.startedAt,
    };
    if (this.opts.metadata) r.metadata = this.opts.metadata;
    if (this.opts.tags) r.tags = this.opts.tags;
    if (this.opts.weight !== undefined) r.weight = this.opts.weight;
    if (this.opts.zone !== undefined) r.zone = this.opts.zone;
    let codecs: Record<string, string> | undefined;
    for (const ep of this.server.endpoints.values()) {
      if (ep.codec.name === "json") continue;
      // Keys are our own validated endpoint names; a null-prototype object keeps `__proto__` an ordinary key.
      codecs ??= Object.create(null) as Record<string, string>;
      codecs[ep.name] = ep.codec.name;
    }
    if (codecs !== undefined) r.codecs = codecs;
    return r;
  }

  /** Requests being handled right now. */
  get inFlight(): number {
    return this.server.inFlight;
  }

  /** Per-endpoint served endpoints and their counters. */
  get endpoints(): ReadonlyMap<string, Endpoint> {
    return this.server.endpoints;
  }

  /**
   * Serves `name` with `handler`. The handler gets the decoded payload and a {@link RequestContext};
   * its return value (or resolved value) is the reply. Bodies are JSON unless `opts.codec` says
   * otherwise (`"raw"`, `"msgpack"`, a user codec). Throw a `ServiceError` to choose the error code.
   */
  endpoint(name: string, handler: Handler, opts: EndpointOptions = {}): this {
    assertToken("endpoint", name);
    if (this.server.endpoints.has(name)) throw new Error(`endpoint ${name} is already served`);
    this.server.add(name, handler, opts);
    if (this.state === "running") {
      this.subscribeService(name);
      this.announce();
    }
    return this;
  }

  /** Registers an observer called after every handled request (metrics use it). */
  onRequest(observer: (o: RequestObservation) => void): this {
    this.server.onRequest(observer);
    return this;
  }

  /** Adds work to run after the agent started and before it stops (e.g. a metrics publisher). */
  addLifecycle(hooks: { start?: () => void | Promise<void>; stop?: () => void | Promise<void> }): this {
    this.lifecycle.push(hooks);
    return this;
  }

  /** Connects (unless given a connection), subscribes, announces and starts heartbeating. */
  async start(): Promise<this> {
    if (this.state !== "new") throw new Error(`agent cannot start from state ${this.state}`);
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: `sb-agent ${this.service}/${this.id}`, ...this.opts, nats: undefined });
    this.connection = nc;
    this.ownsConnection = owned;
    const s = this.subjects;

    // One wildcard subscription for every endpoint of this instance: the last token is the endpoint.
    const instPrefixLen = s.allInstanceEndpoints(this.service, this.id).length - 1;
    this.subs.push(
      nc.subscribe(s.allInstanceEndpoints(this.service, this.id), {
        callback: (err, msg) => {
          if (err) return;
          this.server.handle(msg, msg.subject.slice(instPrefixLen));
        },
      }),
    );
    for (const name of this.server.endpoints.keys()) this.subscribeService(name);
    this.subs.push(
      nc.subscribe(s.sync, {
        callback: (err, msg) => {
          if (!err) this.onSync(msg.data, msg.subject);
        },
      }),
    );
    this.subs.push(
      ...serveMicroDiscovery(nc, this.replies, {
        name: this.service,
        id: this.id,
        version: this.version,
        description: this.opts.description ?? `Switchboard service ${this.service}`,
        metadata: this.opts.metadata ?? {},
        started: new Date(this.startedAt),
        endpointSubject: (ep) => s.service(this.service, ep),
        queueGroup: this.service,
        endpoints: () => this.server.endpoints.values(),
      }),
    );
    this.state = "running";
    void this.watchStatus(nc);
    // Subscriptions must be known to the server before anyone learns this instance exists.
    await nc.flush();
    this.announce();
    this.heartbeat();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref?.();
    for (const h of this.lifecycle) await h.start?.();
    this.log.info({ endpoints: [...this.server.endpoints.keys()] }, "agent started");
    return this;
  }

  /**
   * Graceful shutdown without failed calls (rolling restarts, SIGTERM):
   *
   * 1. announces `draining` at once (a heartbeat with that status; the heartbeats that follow keep it);
   * 2. keeps serving while the registry publishes the change (it waits for the leader's event saying
   *    this instance is draining, at most `confirmMs`), then `settleMs` more, so that every client has
   *    applied the event and the requests they had already sent have arrived; clients stop routing
   *    new balanced calls to it as soon as they see the event;
   * 3. then {@link stop}s: leaves, unsubscribes (a request sent after that gets "no responders", which
   *    every client retries at once elsewhere, idempotent or not), and waits for the requests in
   *    flight until the deadline.
   *
   * The whole drain takes at most `deadlineMs` (default 10 s). Idempotent: a second call returns the
   * same promise. Library users call it on SIGTERM themselves (`process.once("SIGTERM", () =>
   * agent.drain())`); the services the CLI runs do so by default.
   */
  drain(opts: DrainOptions = {}): Promise<void> {
    this.draining ??= this.drainOnce(opts);
    return this.draining;
  }

  private async drainOnce(opts: DrainOptions): Promise<void> {
    if (this.state !== "running") return;
    const deadlineMs = opts.deadlineMs ?? 10_000;
    const started = Date.now();
    const confirmMs = Math.min(opts.confirmMs ?? 2 * this.heartbeatMs + 1000, deadlineMs / 2);
    const settleMs = Math.min(opts.settleMs ?? 250, deadlineMs / 4);
    this.log.info({ deadlineMs }, "draining: announcing, then finishing the requests in flight");
    const confirmed = this.registryConfirmsDraining(confirmMs);
    this.healthStatus = "draining";
    this.heartbeat();
    const seen = await confirmed;
    if (!seen) this.log.warn({ confirmMs }, "no registry event confirmed the draining status in time; stopping anyway");
    await new Promise((r) => setTimeout(r, settleMs));
    await this.stop(Math.max(0, deadlineMs - (Date.now() - started)));
  }

  /**
   * Resolves true when the registry's events say this instance is draining (or gone), false after
   * `timeoutMs`. Only a signal to go on sooner: an event from someone else cannot do more harm than
   * ending the wait early (callers then get "no responders" and retry elsewhere).
   */
  private async registryConfirmsDraining(timeoutMs: number): Promise<boolean> {
    const nc = this.nc;
    let sub: Subscription | undefined;
    try {
      return await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        sub = nc.subscribe(this.subjects.registryEvents, {
          callback: (err, msg) => {
            if (err) return;
            const d = decodeMessage("registry-event", msg.data);
            if (!d.ok || d.value.instance.instance.id !== this.id || d.value.instance.instance.service !== this.service) return;
            if (d.value.instance.status === "draining" || d.value.type !== "up") {
              clearTimeout(timer);
              resolve(true);
            }
          },
        });
      });
    } catch (err) {
      this.log.warn({ err }, "could not watch registry events while draining");
      return false;
    } finally {
      sub?.unsubscribe();
    }
  }

  /**
   * Leaves the registry, stops taking requests, waits (up to `timeoutMs`) for those in flight, and
   * closes the connection if the agent opened it. For a shutdown without failed calls use {@link drain}.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.state !== "running") return;
    this.state = "stopping";
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.announceTimer);
    const nc = this.nc;
    for (const h of [...this.lifecycle].reverse()) {
      try {
        await h.stop?.();
      } catch (err) {
        this.log.warn({ err }, "lifecycle stop hook failed");
      }
    }
    if (!nc.isClosed()) {
      // Leave first, so balanced callers stop choosing this instance while it drains.
      try {
        nc.publish(this.subjects.leave(this.service, this.id), encodeJson({ v: 1, id: this.id, service: this.service, reason: "stop" }));
        await nc.flush();
      } catch (err) {
        this.log.warn({ err }, "could not publish leave");
      }
      // Unsubscribe the queue-group subjects so no new fallback requests arrive; in-flight ones finish.
      await Promise.allSettled([...this.svcSubs.values(), ...this.subs].map((sub) => sub.drain()));
    }
    this.server.draining = true;
    await this.server.idle(timeoutMs);
    if (this.ownsConnection && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close());
    }
    this.state = "stopped";
    this.log.info("agent stopped");
  }

  private subscribeService(name: string): void {
    const sub = this.nc.subscribe(this.subjects.service(this.service, name), {
      queue: this.service,
      callback: (err, msg) => {
        if (!err) this.server.handle(msg, name);
      },
    });
    this.svcSubs.set(name, sub);
  }

  private announce(): void {
    if (this.state !== "running" || !this.connection || this.connection.isClosed()) return;
    try {
      this.connection.publish(this.subjects.announce(this.service, this.id), encodeJson({ v: 1, instance: this.record }));
    } catch (err) {
      this.log.warn({ err }, "could not announce");
    }
  }

  private heartbeat(): void {
    if (this.state !== "running" || !this.connection || this.connection.isClosed()) return;
    const hb: Heartbeat = {
      v: 1,
      id: this.id,
      service: this.service,
      seq: ++this.seq,
      sentAt: Date.now(),
      inFlight: this.server.inFlight,
      status: this.healthStatus,
    };
    try {
      this.connection.publish(this.subjects.heartbeat(this.service, this.id), encodeJson(hb));
    } catch (err) {
      this.log.warn({ err }, "could not publish heartbeat");
    }
  }

  private onSync(data: Uint8Array, subject: string): void {
    const decoded = decodeMessage("sync", data);
    if (!decoded.ok) {
      this.invalid.record("sync", decoded.error, subject);
      return;
    }
    const sync = decoded.value;
    if (sync.service !== undefined && sync.service !== this.service) return;
    if (sync.id !== undefined && sync.id !== this.id) return;
    if (sync.id !== undefined) {
      // Asked for by name: answer at once.
      this.announce();
      return;
    }
    // A broadcast: spread the re-announcements so a coordinator restart does not cause a thundering herd.
    if (this.announceTimer) return;
    const jitter = Math.random() * Math.min(this.heartbeatMs, 1000);
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined;
      this.announce();
    }, jitter);
    this.announceTimer.unref?.();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "reconnect") {
        this.log.info({ server: s.server }, "reconnected; re-announcing");
        this.announce();
        this.heartbeat();
      } else if (s.type === "disconnect") {
        this.log.warn({ server: s.server }, "disconnected from NATS");
      }
    }
  }
}

/** Creates an agent for one instance of a service. Call `endpoint()` for each endpoint, then `start()`. */
export function createAgent(opts: AgentOptions): Agent {
  return new Agent(opts);
}
