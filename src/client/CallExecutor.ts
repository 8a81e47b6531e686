/**
 * The life of a call: pick an instance, send an attempt, read the outcome, and retry (on another
 * instance, after a jittered delay, within the deadline and the retry budget) or finish. It feeds
 * every outcome back into the instance's load statistics and circuit breaker. NATS I/O sits behind
 * the Transport interface, time behind Clock and Timers, so the whole loop runs in unit tests with a
 * fake clock.
 *
 * Built for the success path: one `Call` object per call, which is also the pending entry of the
 * transport (no closure per attempt), attempt records allocated only after a failure, and no
 * `Error` unless the call fails.
 */
import { ERROR_CODE_HEADER, readErrorReply, type Logger } from "../protocol/index.js";
import type { CircuitBreaker } from "./CircuitBreaker.js";
import {
  BadReplyError,
  BadRequestError,
  CallError,
  RemoteError,
  TimeoutError,
  UnavailableError,
  type AttemptRecord,
} from "./errors.js";
import { EventEmitter, type Event } from "./Event.js";
import type { RetryBudget } from "./RetryBudget.js";
import { isRetryableOutcome, RetryPolicy, type AttemptOutcome, type BackoffOptions } from "./RetryPolicy.js";
import type { InstanceRouter, Member, Route } from "./InstanceRouter.js";
import { isStrategyName, type RandomSource, type StrategyName } from "./strategies/index.js";
import type { PendingAttempt, ReplyMessage, Transport } from "./Transport.js";
import type { CallOptions, Clock, GiveUpEvent, RetryEvent, Timers } from "./types.js";

/** Defaults every call starts from. */
export interface CallDefaults {
  strategy: StrategyName;
  timeoutMs: number;
  deadlineMs: number;
  maxAttempts: number;
  backoff: Required<BackoffOptions>;
}

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
const decoder = new TextDecoder();
/** Room for the reply subject, headers and protocol line when checking the payload against max_payload. */
const ENVELOPE_BYTES = 256;

/** Error-reply codes that say the instance is unwell (they count against its breaker). */
function isInstanceFailureCode(code: string): boolean {
  return code === "INTERNAL" || code === "UNAVAILABLE" || code === "TIMEOUT";
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

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

  constructor(opts: CallExecutorOptions) {
    this.router = opts.router;
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.timers = opts.timers;
    this.budget = opts.budget;
    this.defaults = opts.defaults;
    this.random = opts.random ?? Math.random;
    this.policy = new RetryPolicy({ maxAttempts: opts.defaults.maxAttempts, ...opts.defaults.backoff }, this.random);
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
    let strategy = this.defaults.strategy;
    let timeoutMs = this.defaults.timeoutMs;
    let deadlineMs = this.defaults.deadlineMs;
    let policy = this.policy;
    let key: string | undefined;
    let idempotent = false;
    let headers: CallOptions["headers"];
    try {
      route = this.router.route(service, endpoint, now);
      if (opts !== undefined) {
        if (opts.strategy !== undefined) {
          if (!isStrategyName(opts.strategy)) throw new TypeError(`unknown strategy ${JSON.stringify(opts.strategy)}`);
          strategy = opts.strategy;
        }
        timeoutMs = positive("timeoutMs", opts.timeoutMs, timeoutMs);
        deadlineMs = positive("deadlineMs", opts.deadlineMs, deadlineMs);
        if (opts.maxAttempts !== undefined || opts.backoff !== undefined) {
          policy = new RetryPolicy(
            {
              maxAttempts: opts.maxAttempts ?? this.defaults.maxAttempts,
              baseMs: opts.backoff?.baseMs ?? this.defaults.backoff.baseMs,
              capMs: opts.backoff?.capMs ?? this.defaults.backoff.capMs,
            },
            this.random,
          );
        }
        if (opts.key !== undefined && opts.key !== null) key = String(opts.key);
        idempotent = opts.idempotent === true;
        headers = opts.headers;
      }
      let json: string | undefined;
      try {
        json = JSON.stringify(payload);
      } catch (err) {
        throw new TypeError(`payload cannot be encoded as JSON: ${(err as Error).message}`);
      }
      // Buffer.from is several times faster than TextEncoder for the small bodies of typical calls
      // (it allocates from Node's shared pool); a Buffer is a Uint8Array for nats.js.
      data = json === undefined ? EMPTY : Buffer.from(json, "utf8");
      const max = this.transport.maxPayload;
      if (max !== undefined && data.length + ENVELOPE_BYTES > max) {
        throw new RangeError(`payload of ${data.length} bytes exceeds the server's max_payload of ${max} bytes`);
      }
    } catch (err) {
      this.counters.failed++;
      reject(new BadRequestError(`${service}.${endpoint}: ${(err as Error).message}`, service, endpoint, []));
      return;
    }
    const call = new Call(this, route, service, endpoint, data, now + deadlineMs, timeoutMs, strategy, key, idempotent, headers, policy, resolve, reject);
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

/** One call in progress; also the transport's pending entry for its current attempt. */
class Call implements PendingAttempt {
  token = "";
  expiresAt = 0;
  private attempt = 0;
  private tried: string[] | undefined;
  private records: AttemptRecord[] | undefined;
  private member: Member | null = null;
  private breaker: CircuitBreaker | undefined;
  private probe = false;
  private sentAt = 0;
  private subject = "";
  private timer: unknown;

  constructor(
    private readonly exec: CallExecutor,
    private route: Route,
    private readonly service: string,
    private readonly endpoint: string,
    private readonly data: Uint8Array,
    private readonly deadline: number,
    private readonly timeoutMs: number,
    private readonly strategy: StrategyName,
    private readonly key: string | undefined,
    private readonly idempotent: boolean,
    private readonly headers: CallOptions["headers"],
    private readonly policy: RetryPolicy,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  /** Sends the next attempt (or finishes when nothing can be sent). `now`: the caller's reading of the clock, if fresh. */
  dispatch(now: number = this.exec.clock.now()): void {
    const exec = this.exec;
    const remaining = this.deadline - now;
    if (remaining <= 0) {
      this.giveUp("deadline");
      return;
    }
    if (this.attempt > 0) {
      try {
        this.route = exec.router.route(this.service, this.endpoint, now); // the registry may have changed during the delay
      } catch {
        // names were valid on the first attempt; keep the route we have
      }
    }
    const pick = this.route.pick(this.strategy, this.key, this.tried, now);
    if (pick === null) {
      if (this.waitForAdmission(now, this.route.earliestAdmission(now))) return;
      exec.counters.rejected++;
      this.record({ instance: null, subject: "", outcome: "rejected", message: "every live instance is ejected (circuit open)", durationMs: 0 });
      this.giveUp("ejected");
      return;
    }
    let breaker: CircuitBreaker;
    if (pick === "fallback") {
      breaker = this.route.service.fallback;
      if (!breaker.admits(now)) {
        if (this.waitForAdmission(now, breaker.admitsAt(now))) return;
        exec.counters.rejected++;
        this.record({ instance: null, subject: this.route.fallbackSubject, outcome: "rejected", message: "circuit open", durationMs: 0 });
        this.giveUp("ejected");
        return;
      }
      if (this.attempt === 0) exec.counters.fallbackCalls++;
      this.member = null;
      this.subject = this.route.fallbackSubject;
    } else {
      breaker = pick.breaker;
      this.member = pick;
      this.subject = pick.subject;
      pick.stats.started();
    }
    this.breaker = breaker;
    this.probe = breaker.dispatched();
    this.attempt++;
    exec.counters.attempts++;
    this.sentAt = now;
    this.expiresAt = now + (this.timeoutMs < remaining ? this.timeoutMs : remaining);
    try {
      exec.transport.send(this.subject, this.data, this.deadline, this.headers, this);
    } catch (err) {
      this.undoAttempt();
      const e = err as Error;
      const badInput = e?.name === "InvalidArgumentError" || e?.name === "InvalidSubjectError" || e instanceof TypeError;
      this.record({ instance: this.member?.id ?? null, subject: this.subject, outcome: "send-failed", message: e?.message ?? String(err), durationMs: 0 });
      this.fail(
        badInput
          ? new BadRequestError(`${this.service}.${this.endpoint}: ${e.message}`, this.service, this.endpoint, this.records ?? [])
          : new UnavailableError(`${this.service}.${this.endpoint}: cannot send: ${e?.message ?? String(err)}`, this.service, this.endpoint, this.records ?? []),
      );
    }
  }

  onReply(msg: ReplyMessage): void {
    const now = this.exec.clock.now();
    const latency = now - this.sentAt;
    const data = msg.data;
    const h = msg.headers;
    if (h !== undefined) {
      if (data.length === 0 && h.code === 503) {
        this.exec.counters.noResponders++;
        this.failed(now, latency, "no-responders", undefined, "no responders", false, true);
        return;
      }
      if (h.get(ERROR_CODE_HEADER) !== "") {
        const e = readErrorReply(msg);
        if (e) {
          this.failed(now, latency, "error-reply", e.code, e.message, e.retryable === true, isInstanceFailureCode(e.code), e.code === "OVERLOADED");
          return;
        }
      }
    }
    let value: unknown;
    if (data.length > 0) {
      try {
        value = JSON.parse(decoder.decode(data));
      } catch (err) {
        this.exec.counters.badReplies++;
        const who = this.member ? `instance ${this.member.id}` : `subject ${this.subject}`;
        this.failed(now, latency, "bad-reply", undefined, `reply from ${who} is not valid JSON (${data.length} bytes): ${(err as Error).message}`, false, true);
        return;
      }
    }
    // Success: feed the statistics and the breaker, hand over the value.
    if (this.member !== null) this.member.stats.finished(now, latency);
    this.breaker!.success(now, this.probe);
    this.exec.counters.succeeded++;
    this.resolve(value);
  }

  onTimeout(): void {
    const now = this.exec.clock.now();
    this.exec.counters.timeouts++;
    this.failed(now, now - this.sentAt, "timeout", undefined, `no reply within ${Math.round(now - this.sentAt)} ms`, false, true);
  }

  onClosed(reason: string): void {
    this.undoAttempt();
    this.record({ instance: this.member?.id ?? null, subject: this.subject, outcome: "send-failed", message: reason, durationMs: this.exec.clock.now() - this.sentAt });
    this.fail(new UnavailableError(`${this.service}.${this.endpoint}: ${reason}`, this.service, this.endpoint, this.records ?? []));
  }

  /**
   * Every candidate is ejected. When a cool-down ends (or a probe finishes) before the deadline, the
   * call waits for it and takes the half-open probe: instances that come back after a failure (the
   * client's own reconnect, a restarted service) cost the caller latency, not an error. When nothing
   * can be admitted before the deadline, the caller is refused at once, as an open circuit should.
   * Waiting sends nothing, so it spends no attempt and no retry budget.
   */
  private waitForAdmission(now: number, at: number): boolean {
    const wake = Math.max(at, now + 1);
    if (wake >= this.deadline || this.exec.closedReason !== undefined) return false;
    const exec = this.exec;
    exec.counters.waitedForBreaker++;
    exec.delayed.add(this);
    this.timer = exec.timers.setTimeout(() => {
      if (!exec.delayed.delete(this)) return;
      this.dispatch(exec.clock.now());
    }, wake - now);
    return true;
  }

  /** Ends a call waiting for its retry delay (client closing). */
  abortDelay(reason: string): void {
    if (!this.exec.delayed.delete(this)) return;
    this.exec.timers.clearTimeout(this.timer);
    this.fail(new UnavailableError(`${this.service}.${this.endpoint}: ${reason}`, this.service, this.endpoint, this.records ?? []));
  }

  /** Takes back the in-flight count and probe slot of an attempt that told nothing about the instance. */
  private undoAttempt(): void {
    if (this.member !== null && this.member.stats.inFlight > 0) this.member.stats.inFlight--;
    this.breaker?.release(this.probe);
  }

  /**
   * A failed attempt: update statistics and breaker, then retry or give up.
   * `instanceFault`: counts against the instance's breaker; `penalise`: record at least the
   * failure penalty as latency, so a fast failure does not attract traffic.
   */
  private failed(
    now: number,
    latency: number,
    outcome: AttemptOutcome,
    code: string | undefined,
    message: string,
    retryableFlag: boolean,
    instanceFault: boolean,
    penalise = instanceFault,
  ): void {
    const exec = this.exec;
    const member = this.member;
    if (member !== null) member.stats.finished(now, penalise && latency < exec.penaltyMs ? exec.penaltyMs : latency);
    if (instanceFault) this.breaker!.failure(now, this.probe);
    else this.breaker!.success(now, this.probe);
    const rec: AttemptRecord = { instance: member?.id ?? null, subject: this.subject, outcome, message, durationMs: latency };
    if (code !== undefined) rec.code = code;
    if (retryableFlag) rec.retryable = true;
    this.record(rec);

    if (!isRetryableOutcome(outcome, code, retryableFlag, this.idempotent)) {
      this.giveUp("not-retryable");
      return;
    }
    if (this.attempt >= this.policy.maxAttempts) {
      this.giveUp("max-attempts");
      return;
    }
    const delay = this.policy.delay(this.attempt);
    // Leave room for the next attempt to be sent at all; a retry that starts at the deadline only delays the error.
    if (now + delay >= this.deadline) {
      this.giveUp("deadline");
      return;
    }
    if (exec.budget !== undefined && !exec.budget.tryWithdraw(now)) {
      exec.counters.budgetExhausted++;
      this.giveUp("budget");
      return;
    }
    if (member !== null) (this.tried ??= []).push(member.id);
    exec.counters.retries++;
    if (exec.retryEvents.hasListeners) {
      exec.retryEvents.fire({ service: this.service, endpoint: this.endpoint, attempt: this.attempt, delayMs: delay, failed: rec });
    }
    exec.delayed.add(this);
    this.timer = exec.timers.setTimeout(() => {
      if (!exec.delayed.delete(this)) return;
      this.dispatch(exec.clock.now());
    }, delay);
  }

  private record(rec: AttemptRecord): void {
    (this.records ??= []).push(rec);
  }

  private giveUp(reason: GiveUpEvent["reason"]): void {
    const records = this.records ?? [];
    const last = records[records.length - 1];
    if (this.exec.giveUpEvents.hasListeners) {
      this.exec.giveUpEvents.fire({ service: this.service, endpoint: this.endpoint, outcome: last?.outcome ?? "timeout", attempts: this.attempt, reason });
    }
    this.fail(this.errorFor(last, records, reason));
  }

  private errorFor(last: AttemptRecord | undefined, records: AttemptRecord[], reason: GiveUpEvent["reason"]): CallError {
    const { service, endpoint } = this;
    const name = `${service}.${endpoint}`;
    const why =
      reason === "budget"
        ? " (retry budget exhausted)"
        : reason === "deadline"
          ? " (deadline reached)"
          : reason === "max-attempts"
            ? ` (all ${this.policy.maxAttempts} attempts used)`
            : "";
    const n = this.attempt;
    const tries = `${n} attempt${n === 1 ? "" : "s"}`;
    if (last === undefined) {
      return new TimeoutError(`${name}: deadline reached before any attempt`, service, endpoint, records);
    }
    switch (last.outcome) {
      case "error-reply": {
        const code = last.code ?? "INTERNAL";
        if (code === "BAD_REQUEST") return new BadRequestError(last.message ?? "bad request", service, endpoint, records);
        if (code === "OVERLOADED" || code === "UNAVAILABLE") {
          return new UnavailableError(`${name}: ${code}: ${last.message ?? ""} after ${tries}${why}`, service, endpoint, records);
        }
        return new RemoteError(code, last.message ?? "", service, endpoint, records, last.retryable === true);
      }
      case "timeout":
        return new TimeoutError(`${name}: ${last.message ?? "no reply"} after ${tries}${why}${this.idempotent ? "" : "; not retried: the call is not marked idempotent"}`, service, endpoint, records);
      case "bad-reply":
        return new BadReplyError(`${name}: ${last.message ?? "invalid reply"}`, service, endpoint, records);
      case "rejected":
        return new UnavailableError(`${name}: every live instance is ejected (circuit open); ${tries} made`, service, endpoint, records);
      default:
        return new UnavailableError(`${name}: ${describe(last)} after ${tries}${why}`, service, endpoint, records);
    }
  }

  private fail(err: Error): void {
    this.exec.counters.failed++;
    this.reject(err);
  }
}

function describe(rec: AttemptRecord): string {
  if (rec.outcome === "no-responders") return `no responders on ${rec.subject}`;
  return rec.message ?? rec.outcome;
}
