/**
 * The bridge from the bus to HTTP-registered services: for every registered instance with an http(s)
 * address and `endpoints`, it serves the instance's own subjects `<prefix>.inst.<service>.<id>.<endpoint>`
 * in the queue group `sb-bridge`, and answers each request by POSTing the payload to
 * `<serviceAddress>/<endpoint>`. Clients therefore balance, retry, bound and circuit-break HTTP
 * instances exactly like agents: to them an HTTP instance is one more instance subject.
 *
 * Any number of bridges run (every gateway runs one; `switchboard bridge` runs one alone); they share
 * the work through the queue group, and none is a single point of failure: while one lives, every
 * HTTP instance is reachable. Each follows the registry through its own registry cache.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { createRegistryCache, type RegistryCache } from "../client/index.js";
import { readDeadlineHeader } from "../agent/requestHeaders.js";
import {
  ErrorCode,
  InvalidInputLog,
  ReplyGuard,
  Subjects,
  createLogger,
  openNats,
  type InstanceView,
  type Logger,
  type NatsSource,
} from "../protocol/index.js";
import { httpExchange, joinUrl } from "../http/probeHttp.js";
import { bridgeReply } from "./httpReply.js";

/** Queue group of every bridge: each request is served by one of them. */
export const BRIDGE_QUEUE = "sb-bridge";
/** Longest wait for an HTTP service when a request carries no deadline. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** Options of {@link createHttpBridge}. */
export type HttpBridgeOptions = NatsSource & {
  /** Subject prefix (default `sb`). */
  prefix?: string;
  /** A running registry cache to follow (default: one of its own). */
  registry?: RegistryCache;
  /** Longest wait for a service's answer when the request has no deadline, ms (default 30000). */
  timeoutMs?: number;
  logger?: Logger;
};

/** Counters of a bridge. */
export interface HttpBridgeStats {
  /** HTTP instances served. */
  instances: number;
  requests: number;
  /** Requests answered with an error (any code). */
  errors: number;
  /** Requests dropped because their deadline had passed. */
  expired: number;
}

interface Served {
  sub: Subscription;
  view: InstanceView;
}

/** A bridge; see the module comment. */
export class HttpBridge {
  private readonly subjects: Subjects;
  private readonly log: Logger;
  private readonly invalid: InvalidInputLog;
  private readonly replies: ReplyGuard;
  private readonly served = new Map<string, Served>();
  private readonly counters = { requests: 0, errors: 0, expired: 0 };
  private nc: NatsConnection | undefined;
  private ownsConnection = false;
  private registry: RegistryCache | undefined;
  private ownsRegistry = false;
  private listener: { dispose(): void } | undefined;
  private state: "new" | "running" | "stopped" = "new";

  constructor(private readonly opts: HttpBridgeOptions) {
    this.subjects = new Subjects(opts.prefix);
    this.log = opts.logger ?? createLogger("bridge");
    this.invalid = new InvalidInputLog(this.log);
    this.replies = new ReplyGuard({ prefix: this.subjects.prefix, invalid: this.invalid, log: this.log });
  }

  /** Connects, follows the registry and serves every HTTP instance it lists. */
  async start(): Promise<this> {
    if (this.state !== "new") throw new Error(`bridge cannot start from state ${this.state}`);
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: "sb-bridge", ...this.opts, nats: undefined });
    this.nc = nc;
    this.ownsConnection = owned;
    if (this.opts.registry) this.registry = this.opts.registry;
    else {
      this.registry = await createRegistryCache({ nats: nc, prefix: this.subjects.prefix, logger: this.log }).start();
      this.ownsRegistry = true;
    }
    this.state = "running";
    const registry = this.registry;
    this.listener = registry.onChange((c) => this.follow(c.service, c.id, c.type === "removed" ? undefined : c.view));
    for (const service of registry.serviceNames()) for (const view of registry.all(service)) this.follow(service, view.instance.id, view);
    return this;
  }

  /** Stops serving (in-flight requests finish), then closes what the bridge opened. */
  async stop(): Promise<void> {
    if (this.state !== "running") return;
    this.state = "stopped";
    this.listener?.dispose();
    const subs = [...this.served.values()].map((s) => s.sub);
    this.served.clear();
    await Promise.allSettled(subs.map((s) => s.drain()));
    if (this.ownsRegistry) await this.registry?.stop();
    if (this.ownsConnection && this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => this.nc?.close());
  }

  stats(): HttpBridgeStats {
    return { instances: this.served.size, ...this.counters };
  }

  /** Serves, updates or stops serving one instance after a registry change. */
  private follow(service: string, id: string, view: InstanceView | undefined): void {
    if (this.state !== "running") return;
    const k = `${service}\u0000${id}`;
    const current = this.served.get(k);
    const bridged = view !== undefined && view.instance.address !== undefined && /^https?:\/\//.test(view.instance.address) && view.instance.endpoints.length > 0;
    if (!bridged) {
      if (current) {
        this.served.delete(k);
        void current.sub.drain().catch(() => {});
      }
      return;
    }
    if (current) {
      current.view = view;
      return;
    }
    const entry: Served = {
      view,
      sub: this.nc!.subscribe(this.subjects.allInstanceEndpoints(service, id), {
        queue: BRIDGE_QUEUE,
        callback: (err, msg) => {
          if (err) return;
          void this.serve(entry, msg).catch((e: unknown) => this.log.warn({ err: String(e) }, "bridge request failed"));
        },
      }),
    };
    this.served.set(k, entry);
  }

  private async serve(entry: Served, msg: Msg): Promise<void> {
    if (this.replies.refuses(msg) || !msg.reply) return;
    this.counters.requests++;
    const record = entry.view.instance;
    const endpoint = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    if (!record.endpoints.includes(endpoint)) {
      this.counters.errors++;
      this.replies.respondError(msg, ErrorCode.NOT_FOUND, `${record.service} has no endpoint ${endpoint} (registered: ${record.endpoints.join(", ")})`);
      return;
    }
    let timeoutMs = this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = Number(readDeadlineHeader(msg));
    if (Number.isFinite(deadline) && deadline > 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        // The caller has given up and retried elsewhere: no request, no reply.
        this.counters.expired++;
        return;
      }
      timeoutMs = Math.min(timeoutMs, left);
    }
    const out = await httpExchange(joinUrl(record.address!, endpoint), {
      method: "POST",
      body: msg.data,
      headers: { "Content-Type": "application/json", Accept: "application/json", "User-Agent": "switchboard-bridge" },
      timeoutMs,
      maxBytes: this.nc?.info?.max_payload ?? 1024 * 1024,
    });
    const reply = bridgeReply(out);
    if (reply.ok) this.replies.respond(msg, reply.body);
    else {
      this.counters.errors++;
      this.replies.respondError(msg, reply.code, reply.message, reply.retryable);
    }
  }
}

/** Creates a bridge; call `start()` to run it. */
export function createHttpBridge(opts: HttpBridgeOptions): HttpBridge {
  return new HttpBridge(opts);
}
