/**
 * The Switchboard client: balanced calls by service name over NATS request-reply.
 *
 * ```ts
 * const client = await createClient({ servers: "nats://127.0.0.1:4222" }).start();
 * const reply = await client.call("orders", "get", { id: 42 }, { idempotent: true });
 * ```
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_PREFIX, Subjects, checkZone, createLogger, openNats, type Logger, type RoutingPolicy } from "../protocol/index.js";
import { CallExecutor, zeroCallCounters } from "./CallExecutor.js";
import { EventEmitter, type Disposable, type Event } from "../protocol/Event.js";
import { createRegistryCache } from "./registry/index.js";
import { RequestMux } from "./RequestMux.js";
import { RetryBudget } from "./RetryBudget.js";
import { InstanceRouter, type InstanceStateChange } from "./InstanceRouter.js";
import { PolicyWatcher } from "./policy/PolicyWatcher.js";
import { isStrategyName } from "./strategies/index.js";
import type { CallCallback, CallOptions, ClientOptions, ClientStats, Clock, GiveUpEvent, RegistrySource, RetryEvent, Timers } from "./types.js";

/** Default clock: epoch milliseconds with sub-millisecond resolution (latencies here are often < 1 ms). */
const defaultClock: Clock = { now: () => performance.timeOrigin + performance.now() };
const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The parts a started client calls through; built by {@link Client.start} once the connection is open. */
interface CallPath {
  readonly nc: NatsConnection;
  readonly owned: boolean;
  readonly registry: (RegistrySource & { stop?(): unknown }) | undefined;
  readonly ownsRegistry: boolean;
  readonly executor: CallExecutor;
  readonly mux: RequestMux;
  readonly router: InstanceRouter;
  readonly policies: PolicyWatcher | undefined;
}

/** A client; create with {@link createClient}, then `await client.start()`. */
export class Client {
  /** Fires before each retry. */
  readonly onRetry: Event<RetryEvent>;
  /** Fires when a call fails for good (after retries, or at once when not retryable). */
  readonly onGiveUp: Event<GiveUpEvent>;
  /** Fires on every circuit-breaker state change of an instance. */
  readonly onStateChange: Event<InstanceStateChange>;
  private readonly opts: ClientOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stateChanges: EventEmitter<InstanceStateChange>;
  private readonly retryListeners = new LateListeners<RetryEvent>();
  private readonly giveUpListeners = new LateListeners<GiveUpEvent>();
  private parts: CallPath | undefined;
  private starting: Promise<this> | undefined;
  private closing: Promise<void> | undefined;

  /** @internal use {@link createClient}. */
  constructor(opts: ClientOptions) {
    this.log = opts.logger ?? createLogger("client");
    this.opts = { ...opts, prefix: opts.prefix ?? DEFAULT_PREFIX };
    this.clock = opts.clock ?? defaultClock;
    const strategy = opts.strategy ?? "p2c-ewma";
    if (!isStrategyName(strategy)) throw new TypeError(`unknown strategy ${JSON.stringify(strategy)}`);
    // Validate the numeric options at creation, not at start: a misconfiguration is the caller's bug.
    positiveOption("timeoutMs", opts.timeoutMs, 5000);
    positiveOption("deadlineMs", opts.deadlineMs, 30_000);
    new Subjects(this.opts.prefix!);
    const log = this.log;
    this.stateChanges = new EventEmitter<InstanceStateChange>((err) => log.warn({ err }, "state-change listener threw"));
    this.onStateChange = this.stateChanges.event;
    this.onRetry = this.retryListeners.event;
    this.onGiveUp = this.giveUpListeners.event;
  }

  /** The NATS connection the client uses; throws before {@link start}. */
  get nc(): NatsConnection {
    return this.started().nc;
  }

  /** Where live instances come from (undefined before {@link start}, or with `registry: false`). */
  get registry(): RegistrySource | undefined {
    return this.parts?.registry;
  }

  /**
   * Opens the connection (unless `nats` was passed) and, unless `registry` was given, starts the client's
   * own registry cache (snapshot + events, so no coordinator is on the call path). Resolves to the client.
   */
  start(): Promise<this> {
    if (this.closing) return Promise.reject(new Error("client is stopped"));
    this.starting ??= this.open();
    return this.starting;
  }

  private async open(): Promise<this> {
    const opts = this.opts;
    const log = this.log;
    const { nc, owned } = await openNats(opts);
    let registry: (RegistrySource & { stop?(): unknown }) | undefined;
    let ownsRegistry = false;
    try {
      if (opts.registry !== undefined && opts.registry !== false) registry = opts.registry;
      else if (opts.registry === undefined) {
        registry = await createRegistryCache({
          nats: nc,
          prefix: opts.prefix,
          logger: log.child({ component: "registry-cache" }),
          ...(opts.registrySignerKeys ? { signerPublicKeys: opts.registrySignerKeys } : {}),
        }).start();
        ownsRegistry = true;
      }
    } catch (err) {
      if (owned) await nc.close().catch(() => {});
      throw err;
    }
    let policies: PolicyWatcher | undefined;
    if (opts.policies !== false) {
      policies = await new PolicyWatcher(nc, { prefix: opts.prefix!, logger: log.child({ component: "traffic-policy" }) }).start();
    }
    const timers = opts.timers ?? defaultTimers;
    const random = opts.random ?? Math.random;
    const stateChanges = this.stateChanges;
    const router = new InstanceRouter({
      source: registry,
      subjects: new Subjects(opts.prefix!),
      breaker: opts.breaker,
      stats: opts.stats,
      random,
      virtualNodes: opts.virtualNodes,
      onStateChange: (c) => {
        const where = { service: c.service, instance: c.instance ?? "(queue group)", from: c.from, to: c.to, reason: c.reason };
        if (c.to === "open") log.warn(where, "circuit opened: instance ejected");
        else log.info(where, `circuit ${c.to}`);
        stateChanges.fire(c);
      },
    });
    const mux = new RequestMux(nc, { clock: this.clock, sweepMs: opts.sweepMs, logger: log });
    const executor = new CallExecutor({
      router,
      transport: mux,
      clock: this.clock,
      timers,
      random,
      defaults: {
        strategy: opts.strategy ?? "p2c-ewma",
        timeoutMs: positiveOption("timeoutMs", opts.timeoutMs, 5000),
        deadlineMs: positiveOption("deadlineMs", opts.deadlineMs, 30_000),
        maxAttempts: opts.maxAttempts ?? 5,
        backoff: { baseMs: opts.backoff?.baseMs ?? 1000, capMs: opts.backoff?.capMs ?? 5000 },
        zone: opts.zone === undefined ? undefined : checkZone(opts.zone),
        zoneSpillInFlight: opts.zoneSpillInFlight === undefined ? undefined : positiveOption("zoneSpillInFlight", opts.zoneSpillInFlight, 1),
      },
      budget: opts.retryBudget === false ? undefined : new RetryBudget(opts.retryBudget ?? {}),
      failurePenaltyMs: opts.failurePenaltyMs,
      logger: log,
      policies,
      ...(opts.codecs !== undefined ? { codecs: opts.codecs } : {}),
    });
    this.retryListeners.attach(executor.onRetry);
    this.giveUpListeners.attach(executor.onGiveUp);
    this.parts = { nc, owned, registry, ownsRegistry, executor, mux, router, policies };
    void this.watchConnection(nc, router);
    return this;
  }

  private started(): CallPath {
    if (!this.parts) throw new Error("client is not started: call `await client.start()` after createClient()");
    return this.parts;
  }

  /**
   * While the client's connection is down every attempt fails, so every breaker opens; after the
   * reconnect that would eject every healthy instance for a whole cool-down. Those failures were the
   * client's own: forgive them when the connection is back.
   */
  private async watchConnection(nc: NatsConnection, router: InstanceRouter): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closing) break;
      if (s.type === "reconnect") router.forgiveAll(this.clock.now(), "client-reconnected");
    }
  }

  /**
   * Calls `endpoint` of `service` with `payload` and resolves to the decoded reply, in the codec the
   * endpoint announces (JSON by default) or the call's `codec` option.
   * Rejects with UnavailableError, TimeoutError, RemoteError, BadRequestError or BadReplyError.
   */
  call<T = unknown>(service: string, endpoint: string, payload?: unknown, opts?: CallOptions): Promise<T>;
  /** Callback form: `callback(err, reply)`. */
  call<T = unknown>(service: string, endpoint: string, payload: unknown, callback: CallCallback<T>): void;
  /** Callback form with options. */
  call<T = unknown>(service: string, endpoint: string, payload: unknown, opts: CallOptions | undefined, callback: CallCallback<T>): void;
  call<T = unknown>(
    service: string,
    endpoint: string,
    payload?: unknown,
    optsOrCallback?: CallOptions | CallCallback<T>,
    maybeCallback?: CallCallback<T>,
  ): Promise<T> | void {
    let opts: CallOptions | undefined;
    let callback: CallCallback<T> | undefined;
    if (typeof optsOrCallback === "function") callback = optsOrCallback;
    else {
      opts = optsOrCallback;
      callback = maybeCallback;
    }
    const parts = this.parts;
    if (!parts) {
      const err = new Error("client is not started: call `await client.start()` after createClient()");
      if (callback === undefined) return Promise.reject(err);
      deliver(callback, err, undefined);
      return;
    }
    const executor = parts.executor;
    if (callback === undefined) {
      return new Promise<T>((resolve, reject) => {
        executor.execute(service, endpoint, payload, opts, resolve as (v: unknown) => void, reject);
      });
    }
    const cb = callback;
    executor.execute(
      service,
      endpoint,
      payload,
      opts,
      (value) => deliver(cb, null, value as T),
      (err) => deliver(cb, err, undefined),
    );
  }

  /**
   * The body codec `endpoint` of `service` announces (`"json"` when it announces none; the last one
   * announced while no instance is live), or undefined when no instance serving it was ever known. Tools use it to refuse to send JSON to a
   * bytes endpoint; calls use it by default.
   */
  endpointCodec(service: string, endpoint: string): string | undefined {
    const { router, executor } = this.started();
    const route = router.route(service, endpoint, executor.clock.now());
    if (route.codec !== undefined) return route.codec;
    return route.members.length === 0 ? undefined : "json";
  }

  /** Counters since the client was started (all zero before). */
  stats(): ClientStats {
    const parts = this.parts;
    const c = parts?.executor.counters ?? zeroCallCounters();
    return {
      calls: c.calls,
      succeeded: c.succeeded,
      failed: c.failed,
      attempts: c.attempts,
      retries: c.retries,
      budgetExhausted: c.budgetExhausted,
      noResponders: c.noResponders,
      timeouts: c.timeouts,
      lateReplies: parts?.mux.lateReplies ?? 0,
      badReplies: c.badReplies,
      fallbackCalls: c.fallbackCalls,
      rejected: c.rejected,
      waitedForBreaker: c.waitedForBreaker,
      breakers: parts?.router.breakerTotals() ?? { opened: 0, halfOpened: 0, closed: 0, open: 0 },
      pending: parts?.mux.size ?? 0,
      policies: {
        inForce: parts?.policies?.stats().policies ?? 0,
        refused: parts?.policies?.stats().invalid ?? 0,
        served: parts?.executor.policyStats() ?? [],
      },
    };
  }

  /** The traffic policy this client applies to `service` now, with its KV revision (undefined: none). */
  trafficPolicy(service: string): { revision: number; policy: RoutingPolicy } | undefined {
    const p = this.parts?.policies?.get(service);
    return p === undefined ? undefined : { revision: p.revision, policy: p.source };
  }

  /** The breaker state of each known instance of `service` (for diagnostics and tests). */
  breakerStates(service: string): Record<string, string> {
    // Instance ids come from the wire: `__proto__` is a valid one.
    const out = Object.create(null) as Record<string, string>;
    const router = this.parts?.router;
    if (!router) return out;
    for (const [id, b] of router.breakers(service)) out[id] = b.state;
    const fb = router.fallbackBreaker(service);
    if (fb) out["(queue group)"] = fb.state;
    return out;
  }

  /**
   * Ends pending calls with UnavailableError("client closed"), stops the registry cache it created
   * and closes the connection if the client opened it. Idempotent; waits for a start in progress.
   */
  stop(): Promise<void> {
    this.closing ??= (async () => {
      await this.starting?.catch(() => {});
      const parts = this.parts;
      if (!parts) return;
      parts.executor.close("client closed");
      parts.mux.close("client closed");
      parts.router.close();
      parts.policies?.stop();
      if (parts.ownsRegistry) await parts.registry?.stop?.();
      if (parts.owned && !parts.nc.isClosed()) await parts.nc.close();
    })();
    return this.closing;
  }

  /** @deprecated use {@link stop} (kept while code written before the one-lifecycle change is migrated). */
  close(): Promise<void> {
    return this.stop();
  }
}

/**
 * Listeners of an event whose source exists only once the client is started: they are kept until then and
 * attached to the source directly (so the call path's `hasListeners` check still sees them).
 */
class LateListeners<T> {
  private source: Event<T> | undefined;
  private readonly waiting = new Set<{ listener: (value: T) => void; handle: Disposable | undefined }>();

  readonly event: Event<T> = (listener) => {
    const entry = { listener, handle: this.source?.(listener) };
    this.waiting.add(entry);
    return {
      dispose: () => {
        this.waiting.delete(entry);
        entry.handle?.dispose();
      },
    };
  };

  attach(source: Event<T>): void {
    this.source = source;
    for (const entry of this.waiting) entry.handle ??= source(entry.listener);
  }
}

/** Calls a user callback outside our stack: an exception in it is the caller's, not the call path's. */
function deliver<T>(cb: CallCallback<T>, err: Error | null, value: T | undefined): void {
  try {
    if (err) cb(err);
    else cb(null, value);
  } catch (e) {
    // Same as an exception in any Node callback: surface it instead of swallowing it.
    process.nextTick(() => {
      throw e;
    });
  }
}

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive number of milliseconds`);
  return value;
}

/**
 * Creates a client (synchronously; nothing is opened yet): `const client = await createClient(opts).start()`.
 * Pass `nats` to share a connection (the client leaves it open on stop) or connection settings (`servers`,
 * credentials, TLS) to let the client open and own one.
 */
export function createClient(opts: ClientOptions = {}): Client {
  return new Client(opts);
}
