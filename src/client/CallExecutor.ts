/**
 * Runs the calls of one client: resolves each call's options, encodes its payload, and starts a
 * {@link Call}, which does the rest (routing, attempts, retries). Keeps the counters, the retry and
 * give-up events, and the calls waiting for a retry delay, so `close()` can end them. NATS I/O sits
 * behind the Transport interface, time behind Clock and Timers, so the whole loop runs in unit tests
 * with a fake clock.
 */
import type { Logger } from "../protocol/index.js";
import { Call } from "./Call.js";
import { BadRequestError, UnavailableError } from "./errors.js";
import { EventEmitter, type Event } from "../protocol/Event.js";
import { SelectorCache, resolveCallOptions, type CallDefaults, type ResolvedCallOptions } from "./resolveCallOptions.js";
import type { RetryBudget } from "./RetryBudget.js";
import { RetryPolicy } from "./RetryPolicy.js";
import type { InstanceRouter, Route } from "./InstanceRouter.js";
import type { RandomSource } from "./strategies/index.js";
import type { Transport } from "./Transport.js";
import type { CallOptions, Clock, GiveUpEvent, RetryEvent, Timers } from "./types.js";

export type { CallDefaults };

/** Options of {@link CallExecutor}. */
export interface CallExecutorOptions {
  router: InstanceRouter;
  transport: Transport;
  clock: Clock;
  timers: Timers;
  random?: RandomSource;
  defaults: CallDefaults;
  budget?: RetryBudget | undefined;
  /** Latency recorded for a failed attempt at least (default 1000 ms). */
  failurePenaltyMs?: number;
  logger?: Logger;
}

/** Counters kept by the executor. */
export interface CallCounters {
  calls: number;
  succeeded: number;
  failed: number;
  attempts: number;
  retries: number;
  budgetExhausted: number;
  noResponders: number;
  timeouts: number;
  badReplies: number;
  fallbackCalls: number;
  rejected: number;
  waitedForBreaker: number;
}

const EMPTY = new Uint8Array(0);
/** Room for the reply subject, headers and protocol line when checking the payload against max_payload. */
const ENVELOPE_BYTES = 256;

/** Runs calls. One per client. */
export class CallExecutor {
  readonly counters: CallCounters = {
    calls: 0,
    succeeded: 0,
    failed: 0,
    attempts: 0,
    retries: 0,
    budgetExhausted: 0,
    noResponders: 0,
    timeouts: 0,
    badReplies: 0,
    fallbackCalls: 0,
    rejected: 0,
    waitedForBreaker: 0,
  };
  readonly router: InstanceRouter;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly budget: RetryBudget | undefined;
  readonly defaults: CallDefaults;
  readonly policy: RetryPolicy;
  readonly penaltyMs: number;
  readonly random: RandomSource;
  readonly log: Logger | undefined;
  /** Calls waiting for a retry delay, so close() can end them at once. */
  readonly delayed = new Set<Call>();
  /** Set once the client closes; no call waits or starts after it. */
  closedReason: string | undefined;
  readonly retryEvents: EventEmitter<RetryEvent>;
  readonly giveUpEvents: EventEmitter<GiveUpEvent>;
  /** Fires before each retry. */
  readonly onRetry: Event<RetryEvent>;
  /** Fires when a call fails for good. */
  readonly onGiveUp: Event<GiveUpEvent>;
  /** Settings of every call without options (shared, never modified). */
  private readonly defaultCallOptions: ResolvedCallOptions;
  /** Compiled version/tags selectors of recent calls. */
  private readonly selectors = new SelectorCache();

  constructor(opts: CallExecutorOptions) {
    this.router = opts.router;
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.timers = opts.timers;
    this.budget = opts.budget;
    this.defaults = opts.defaults;
    this.random = opts.random ?? Math.random;
    this.policy = new RetryPolicy({ maxAttempts: opts.defaults.maxAttempts, ...opts.defaults.backoff }, this.random);
    this.defaultCallOptions = resolveCallOptions(this.defaults, this.policy, this.random, undefined);
    this.penaltyMs = opts.failurePenaltyMs ?? 1000;
    this.log = opts.logger;
    const onListenerError = (err: unknown) => this.log?.warn({ err }, "event listener threw");
    this.retryEvents = new EventEmitter<RetryEvent>(onListenerError);
    this.giveUpEvents = new EventEmitter<GiveUpEvent>(onListenerError);
    this.onRetry = this.retryEvents.event;
    this.onGiveUp = this.giveUpEvents.event;
  }

  /**
   * Starts a call; exactly one of `resolve` / `reject` is called later (never synchronously
   * throwing out of here: invalid input is reported through `reject`).
   */
  execute(
    service: string,
    endpoint: string,
    payload: unknown,
    opts: CallOptions | undefined,
    resolve: (value: unknown) => void,
    reject: (err: Error) => void,
  ): void {
    this.counters.calls++;
    if (this.closedReason !== undefined) {
      this.counters.failed++;
      reject(new UnavailableError(`${service}.${endpoint}: ${this.closedReason}`, service, endpoint, []));
      return;
    }
    const now = this.clock.now();
    let route: Route;
    let data: Uint8Array;
    let settings = this.defaultCallOptions;
    try {
      route = this.router.route(service, endpoint, now);
      if (opts !== undefined) settings = resolveCallOptions(this.defaults, this.policy, this.random, opts, this.selectors);
      data = encodeJsonPayload(payload);
      const max = this.transport.maxPayload;
      if (max !== undefined && data.length + ENVELOPE_BYTES > max) {
        throw new RangeError(`payload of ${data.length} bytes exceeds the server's max_payload of ${max} bytes`);
      }
    } catch (err) {
      this.counters.failed++;
      reject(new BadRequestError(`${service}.${endpoint}: ${(err as Error).message}`, service, endpoint, []));
      return;
    }
    const call = new Call(this, route, service, endpoint, data, now + settings.deadlineMs, settings, resolve, reject);
    this.budget?.deposit();
    call.dispatch(now);
  }

  /** Ends calls waiting for a retry and refuses new calls. */
  close(reason = "client closed"): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const call of [...this.delayed]) call.abortDelay(reason);
  }
}

function encodeJsonPayload(payload: unknown): Uint8Array {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (err) {
    throw new TypeError(`payload cannot be encoded as JSON: ${(err as Error).message}`);
  }
  // Buffer.from is several times faster than TextEncoder for the small bodies of typical calls
  // (it allocates from Node's shared pool); a Buffer is a Uint8Array for nats.js.
  return json === undefined ? EMPTY : Buffer.from(json, "utf8");
}
