/**
 * Runs the calls of one client: resolves each call's options, encodes its payload, and starts a
 * {@link Call}, which does the rest (routing, attempts, retries). Keeps the counters, the retry and
 * give-up events, and the calls waiting for a retry delay, so `close()` can end them. NATS I/O sits
 * behind the Transport interface, time behind Clock and Timers, so the whole loop runs in unit tests
 * with a fake clock.
 */
import type { Logger } from "../protocol/index.js";
import { CodecSet, EncodedBody, encodeWith, jsonCodec, thrownMessage, type Codec } from "../protocol/codecs/index.js";
import { Call } from "./Call.js";
import { BadRequestError, UnavailableError } from "./errors.js";
import { EventEmitter, type Event } from "../protocol/Event.js";
import { chooseSubset, type CompiledPolicy, type HeaderSource, type PolicySubset } from "./policy/TrafficPolicy.js";
import { SelectorCache, resolveCallOptions, type CallDefaults, type PolicyCounter, type ResolvedCallOptions } from "./resolveCallOptions.js";
import type { RetryBudget } from "./RetryBudget.js";
import { RetryPolicy } from "./RetryPolicy.js";
import type { InstanceRouter, Route, Selection } from "./InstanceRouter.js";
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
  /** Traffic policies in force, by service (a PolicyWatcher). */
  policies?: { get(service: string): CompiledPolicy | undefined } | undefined;
  /** User codecs known by name (the built-ins are always known). */
  codecs?: Codec[];
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

/** Counters of a client that made no call yet. */
export function zeroCallCounters(): CallCounters {
  return {
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
}

/** Runs calls. One per client. */
export class CallExecutor {
  readonly counters: CallCounters = zeroCallCounters();
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
  /** Codecs known by name. */
  readonly codecs: CodecSet;
  /** Settings of every call without options (shared, never modified). */
  private readonly defaultCallOptions: ResolvedCallOptions;
  /** Compiled version/tags selectors of recent calls. */
  private readonly selectors = new SelectorCache();
  /** Traffic policies in force (undefined: none are watched). */
  private readonly policies: { get(service: string): CompiledPolicy | undefined } | undefined;
  private readonly policyCounters = new Map<string, PolicyCounter>();

  constructor(opts: CallExecutorOptions) {
    this.router = opts.router;
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.timers = opts.timers;
    this.budget = opts.budget;
    this.defaults = opts.defaults;
    this.random = opts.random ?? Math.random;
    this.policy = new RetryPolicy({ maxAttempts: opts.defaults.maxAttempts, ...opts.defaults.backoff }, this.random);
    this.codecs = new CodecSet(opts.codecs);
    this.defaultCallOptions = resolveCallOptions(this.defaults, this.policy, this.random, undefined);
    this.penaltyMs = opts.failurePenaltyMs ?? 1000;
    this.log = opts.logger;
    this.policies = opts.policies;
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
    let codec: Codec;
    let settings = this.defaultCallOptions;
    try {
      route = this.router.route(service, endpoint, now);
      if (opts !== undefined) settings = resolveCallOptions(this.defaults, this.policy, this.random, opts, this.selectors, this.codecs);
      codec = settings.codec ?? this.announcedCodec(route.codec);
      data = codec === jsonCodec ? encodeJsonPayload(payload) : encodePayload(codec, payload);
      const max = this.transport.maxPayload;
      if (max !== undefined && data.length + ENVELOPE_BYTES > max) {
        throw new RangeError(`payload of ${data.length} bytes exceeds the server's max_payload of ${max} bytes`);
      }
    } catch (err) {
      this.counters.failed++;
      reject(new BadRequestError(`${service}.${endpoint}: ${(err as Error).message}`, service, endpoint, []));
      return;
    }
    if (this.policies !== undefined) {
      const policy = this.policies.get(service);
      if (policy !== undefined) {
        const routed = this.applyPolicy(policy, route, settings, opts?.headers);
        if (routed === null) {
          this.counters.failed++;
          const err = new UnavailableError(
            `${service}.${endpoint}: the traffic policy of ${service} (revision ${policy.revision}) leaves no instance: no live instance matches any subset with weight`,
            service,
            endpoint,
            [],
          );
          reject(err);
          return;
        }
        settings = routed;
      }
    }
    const call = new Call(this, route, service, endpoint, data, codec, now + settings.deadlineMs, settings, resolve, reject);
    this.budget?.deposit();
    call.dispatch(now);
  }

  /**
   * The settings of a call under a traffic policy: the chosen subset's selector added to the call's
   * own, and the counter of that subset. Null when no subset with weight has a matching instance.
   */
  private applyPolicy(policy: CompiledPolicy, route: Route, settings: ResolvedCallOptions, headers: CallOptions["headers"]): ResolvedCallOptions | null {
    const own = settings.selection?.filters;
    const withSubset = (s: PolicySubset) => (s.selector === undefined ? own : own === undefined ? [s.selector] : [...own, s.selector]);
    const choice = chooseSubset(policy, headers as HeaderSource, (s) => route.select(withSubset(s)).length > 0, this.random);
    if (choice === null) return null;
    const key = `${policy.service}\u0000${policy.revision}\u0000${choice.subset.name}\u0000${choice.by}`;
    let counter = this.policyCounters.get(key);
    if (counter === undefined) {
      if (this.policyCounters.size >= 4096) this.policyCounters.clear();
      counter = { service: policy.service, revision: policy.revision, subset: choice.subset.name, override: choice.by === "override", calls: 0 };
      this.policyCounters.set(key, counter);
    }
    const filters = withSubset(choice.subset);
    const selection: Selection = { ...settings.selection, filters };
    return { ...settings, selection, servedBy: counter };
  }

  /** Calls served per traffic-policy subset (revision, subset, by weight or override). */
  policyStats(): PolicyCounter[] {
    return [...this.policyCounters.values()].map((c) => ({ ...c }));
  }

  /** The codec named by an endpoint's announce (undefined: json); throws when this client does not know it. */
  private announcedCodec(name: string | undefined): Codec {
    if (name === undefined) return jsonCodec;
    const codec = this.codecs.get(name);
    if (codec === undefined) {
      throw new TypeError(`the endpoint uses codec ${JSON.stringify(name)}, which this client does not know: pass it in createClient({ codecs }) or as the call's codec`);
    }
    return codec;
  }

  /** Ends calls waiting for a retry and refuses new calls. */
  close(reason = "client closed"): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const call of [...this.delayed]) call.abortDelay(reason);
  }
}

function encodeJsonPayload(payload: unknown): Uint8Array {
  if (payload instanceof EncodedBody) return payload.data;
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

function encodePayload(codec: Codec, payload: unknown): Uint8Array {
  try {
    return encodeWith(codec, payload);
  } catch (err) {
    throw new TypeError(`payload cannot be encoded with codec ${codec.name}: ${thrownMessage(err)}`);
  }
}
