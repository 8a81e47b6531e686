/**
 * The Switchboard client: balanced calls by service name over NATS request-reply.
 *
 * ```ts
 * const client = await createClient({ servers: "nats://127.0.0.1:4222" });
 * const reply = await client.call("orders", "get", { id: 42 }, { idempotent: true });
 * ```
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_PREFIX, Subjects, createLogger, openNats, type Logger } from "../protocol/index.js";
import { CallExecutor } from "./CallExecutor.js";
import { EventEmitter, type Event } from "./Event.js";
import { startRegistryCache } from "./registry/index.js";
import { RequestMux } from "./RequestMux.js";
import { RetryBudget } from "./RetryBudget.js";
import { InstanceRouter, type InstanceStateChange } from "./InstanceRouter.js";
import { isStrategyName } from "./strategies/index.js";
import type { CallCallback, CallOptions, ClientOptions, ClientStats, Clock, GiveUpEvent, RegistrySource, RetryEvent, Timers } from "./types.js";

/** Default clock: epoch milliseconds with sub-millisecond resolution (latencies here are often < 1 ms). */
const defaultClock: Clock = { now: () => performance.timeOrigin + performance.now() };
const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** A client; create with {@link createClient}. */
export class Client {
  /** Fires before each retry. */
  readonly onRetry: Event<RetryEvent>;
  /** Fires when a call fails for good (after retries, or at once when not retryable). */
  readonly onGiveUp: Event<GiveUpEvent>;
  /** Fires on every circuit-breaker state change of an instance. */
  readonly onStateChange: Event<InstanceStateChange>;
  private readonly executor: CallExecutor;
  private readonly mux: RequestMux;
  private readonly router: InstanceRouter;
  private closing: Promise<void> | undefined;

  /** @internal use {@link createClient}. */
  constructor(
    /** The NATS connection the client uses. */
    readonly nc: NatsConnection,
    private readonly owned: boolean,
    /** Where live instances come from (undefined: queue-group fallback only). */
    readonly registry: (RegistrySource & { close?(): unknown }) | undefined,
    private readonly ownsRegistry: boolean,
    opts: ClientOptions,
    private readonly log: Logger,
  ) {
    const clock = opts.clock ?? defaultClock;
    const timers = opts.timers ?? defaultTimers;
    const random = opts.random ?? Math.random;
    const subjects = new Subjects(opts.prefix ?? process.env.SB_PREFIX ?? DEFAULT_PREFIX);
    const stateChanges = new EventEmitter<InstanceStateChange>((err) => log.warn({ err }, "state-change listener threw"));
    this.onStateChange = stateChanges.event;
    this.router = new InstanceRouter({
      source: registry,
      subjects,
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
    this.mux = new RequestMux(nc, { clock, sweepMs: opts.sweepMs, logger: log });
    const strategy = opts.strategy ?? "p2c-ewma";
    if (!isStrategyName(strategy)) throw new TypeError(`unknown strategy ${JSON.stringify(strategy)}`);
    this.executor = new CallExecutor({
      router: this.router,
      transport: this.mux,
      clock,
      timers,
      random,
      defaults: {
        strategy,
        timeoutMs: positiveOption("timeoutMs", opts.timeoutMs, 5000),
        deadlineMs: positiveOption("deadlineMs", opts.deadlineMs, 30_000),
        maxAttempts: opts.maxAttempts ?? 5,
        backoff: { baseMs: opts.backoff?.baseMs ?? 1000, capMs: opts.backoff?.capMs ?? 5000 },
      },
      budget: opts.retryBudget === false ? undefined : new RetryBudget(opts.retryBudget ?? {}),
      failurePenaltyMs: opts.failurePenaltyMs,
      logger: log,
    });
    this.onRetry = this.executor.onRetry;
    this.onGiveUp = this.executor.onGiveUp;
    void this.watchConnection(clock);
  }

  /**
   * While the client's connection is down every attempt fails, so every breaker opens; after the
   * reconnect that would eject every healthy instance for a whole cool-down. Those failures were the
   * client's own: forgive them when the connection is back.
   */
  private async watchConnection(clock: Clock): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closing) break;
      if (s.type === "reconnect") this.router.forgiveAll(clock.now(), "client-reconnected");
    }
  }

  /**
   * Calls `endpoint` of `service` with a JSON `payload` and resolves to the decoded JSON reply.
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
    if (callback === undefined) {
      return new Promise<T>((resolve, reject) => {
        this.executor.execute(service, endpoint, payload, opts, resolve as (v: unknown) => void, reject);
      });
    }
    const cb = callback;
    this.executor.execute(
      service,
      endpoint,
      payload,
      opts,
      (value) => deliver(cb, null, value as T),
      (err) => deliver(cb, err, undefined),
    );
  }

  /** Counters since the client was created. */
  stats(): ClientStats {
    const c = this.executor.counters;
    return {
      calls: c.calls,
      succeeded: c.succeeded,
      failed: c.failed,
      attempts: c.attempts,
      retries: c.retries,
      budgetExhausted: c.budgetExhausted,
      noResponders: c.noResponders,
      timeouts: c.timeouts,
      lateReplies: this.mux.lateReplies,
      badReplies: c.badReplies,
      fallbackCalls: c.fallbackCalls,
      rejected: c.rejected,
      waitedForBreaker: c.waitedForBreaker,
      breakers: this.router.breakerTotals(),
      pending: this.mux.size,
    };
  }

  /** The breaker state of each known instance of `service` (for diagnostics and tests). */
  breakerStates(service: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, b] of this.router.breakers(service)) out[id] = b.state;
    const fb = this.router.fallbackBreaker(service);
    if (fb) out["(queue group)"] = fb.state;
    return out;
  }

  /**
   * Ends pending calls with UnavailableError("client closed"), stops the registry cache it created
   * and closes the connection if the client opened it. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.executor.close("client closed");
      this.mux.close("client closed");
      this.router.close();
      if (this.ownsRegistry) await this.registry?.close?.();
      if (this.owned && !this.nc.isClosed()) await this.nc.close();
    })();
    return this.closing;
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
 * Creates a client. Pass `nats` to share a connection (the client leaves it open on close) or
 * connection settings (`servers`, credentials, TLS) to let the client open and own one.
 */
export async function createClient(opts: ClientOptions = {}): Promise<Client> {
  const log = opts.logger ?? createLogger("client");
  const prefix = opts.prefix ?? process.env.SB_PREFIX ?? DEFAULT_PREFIX;
  const { nc, owned } = await openNats(opts);
  try {
    let registry: (RegistrySource & { close?(): unknown }) | undefined;
    let ownsRegistry = false;
    if (opts.registry !== undefined && opts.registry !== false) registry = opts.registry;
    else if (opts.registry === undefined) {
      // The client's own registry cache: snapshot + events, so the coordinator is never on the call path.
      registry = await startRegistryCache(nc, prefix, log);
      ownsRegistry = true;
    }
    return new Client(nc, owned, registry, ownsRegistry, { ...opts, prefix }, log);
  } catch (err) {
    if (owned) await nc.close().catch(() => {});
    throw err;
  }
}
